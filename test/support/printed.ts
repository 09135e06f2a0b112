/** What a child process prints, and waiting for a line of it as it comes (no polling). */
import type { Readable } from 'node:stream';

export interface Printed {
  /** Everything printed so far, the streams interleaved as they came. */
  text(): string;
  /**
   * Resolves the first match of `pattern` in the text, as soon as it is printed; rejects when the
   * output has ended without it, or after `ms` (default 60 s), with the last of what was printed.
   */
  until(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
}

/** Collects `streams` (text) of one process; their output has ended once every one has closed. */
export function watchPrinted(streams: Readable[]): Printed {
  let text = '';
  let open = streams.length;
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const listener of [...listeners]) listener();
  };
  for (const stream of streams) {
    stream.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk;
      changed();
    });
    stream.once('close', () => {
      open--;
      changed();
    });
  }
  return {
    text: () => text,
    until(pattern, ms = 60_000) {
      return new Promise<RegExpMatchArray>((resolve, reject) => {
        const done = () => {
          listeners.delete(check);
          clearTimeout(timer);
        };
        const check = () => {
          const match = text.match(pattern);
          if (match) {
            done();
            resolve(match);
          } else if (open === 0) {
            done();
            reject(new Error(`the process ended without printing ${pattern}:\n${text.slice(-2000)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`nothing printed matched ${pattern} within ${ms} ms:\n${text.slice(-2000)}`));
        }, ms);
        listeners.add(check);
        check();
      });
    },
  };
}
