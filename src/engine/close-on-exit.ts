/**
 * `closeOnExit: true`: on SIGTERM or SIGINT, close the engine (waiting for calls in flight and
 * writing the ledger), then end the process with that signal as it would have ended without us.
 * Off by default: a library does not take over an app's signals unasked.
 */
const SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/** Installs the handler; returns the function that removes it. */
export function closeOnExit(close: () => Promise<void>): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    uninstall();
    void close()
      .catch((error: unknown) => process.emitWarning(`tokenlay: closing the policy engine on ${signal} failed: ${(error as Error)?.message ?? String(error)}`))
      .finally(() => {
        // Another handler of the app decides what the signal means; alone, we end as the signal would.
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      });
  };
  const uninstall = () => {
    for (const signal of SIGNALS) process.off(signal, onSignal);
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  return uninstall;
}
