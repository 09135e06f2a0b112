/**
 * Waiting for another process's SQLite write lock without blocking the event loop. better-sqlite3
 * is synchronous: its own busy timeout would sleep the whole process. So the driver's wait is kept
 * short ({@link BUSY_SPIN_MS}) and longer waits are asynchronous retries with backoff.
 */

/** The longest one synchronous attempt waits for a lock (ms); the event loop is never blocked much longer. */
export const BUSY_SPIN_MS = 10;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SQLite's primary result codes for "another connection holds the lock". */
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;

/**
 * Whether an error is SQLite saying another connection holds the lock: better-sqlite3 names it in
 * `code` (`SQLITE_BUSY`, `SQLITE_BUSY_SNAPSHOT`, …); `node:sqlite` says `ERR_SQLITE_ERROR` and gives
 * the result code in `errcode` (extended codes keep the primary one in their low byte).
 */
export function isBusy(error: unknown): boolean {
  const { code, errcode } = (error ?? {}) as { code?: unknown; errcode?: unknown };
  if (typeof errcode === 'number') {
    const primary = errcode & 0xff;
    if (primary === SQLITE_BUSY || primary === SQLITE_LOCKED) return true;
  }
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || (typeof code === 'string' && code.startsWith('SQLITE_BUSY_'));
}

/**
 * Runs `write` until it is not refused for a lock, retrying asynchronously with backoff (5 ms
 * doubling to 100 ms) for up to `budgetMs` in all; then the last SQLITE_BUSY is thrown.
 */
export async function whenUnlocked<T>(write: () => T, budgetMs: number): Promise<T> {
  const deadline = Date.now() + budgetMs;
  let delay = 5;
  for (;;) {
    try {
      return write();
    } catch (error) {
      if (!isBusy(error) || Date.now() >= deadline) throw error;
    }
    await sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
    delay = Math.min(delay * 2, 100);
  }
}
