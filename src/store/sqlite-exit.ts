const flushers = new Set<() => void>();
let hooked = false;

function flushAll(): void {
  for (const flush of flushers) {
    try {
      flush();
    } catch {
      // The process is exiting; there is no one left to tell, and other stores should still flush.
    }
  }
}

/**
 * Runs `flush` when the process exits normally, so ledger rows still queued in memory reach the
 * file even if the app never called `close()`. better-sqlite3 writes synchronously, which is all
 * an `exit` listener may do. One listener serves every store. Returns the unregister function.
 */
export function flushAtExit(flush: () => void): () => void {
  if (!hooked) {
    hooked = true;
    process.on('exit', flushAll);
  }
  flushers.add(flush);
  return () => {
    flushers.delete(flush);
  };
}
