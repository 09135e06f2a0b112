/** A promise the test opens by hand: the stand-in provider answers a `hold` once it is open. */
export interface Gate {
  until: Promise<void>;
  open(): void;
}

export function gate(): Gate {
  let open!: () => void;
  const until = new Promise<void>((resolve) => (open = resolve));
  return { until, open };
}

/** Waits until `check` holds, polling every 10 ms, for at most `ms`; throws with `what` when it never does. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`never happened within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
