import { TokenlayConfigError } from '../config-error.js';
import type * as NodeFs from 'node:fs';
import type * as NodePath from 'node:path';
import { nodeBuiltin } from '../node-builtins.js';
import type { LedgerRow } from './types.js';

// Fetched on first use: the store module is reachable from the root entry, which must load where node:fs does not exist.
const fs = () => nodeBuiltin<typeof NodeFs>('node:fs', 'the Postgres ledger spool');
const nodePath = () => nodeBuiltin<typeof NodePath>('node:path', 'the Postgres ledger spool');

/** One ledger row with the idempotency key it keeps through every retry and replay. */
export interface SpooledRow {
  /** The call's idempotency key (a UUID). */
  k: string;
  row: LedgerRow;
}

/** A file of spooled rows waiting for Postgres, and the rows it holds. */
export interface Segment {
  file: string;
  rows: SpooledRow[];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The local spool in front of the Postgres ledger. Each row is appended (one `write` to an
 * append-mode file) before `record()` returns, so a SIGKILL loses nothing that was settled: the
 * next start replays the file. Flushing first renames the live file to a segment, so rows
 * recorded during a flush go to a fresh file; a segment is deleted only after Postgres committed
 * its rows, and replaying one twice is harmless (idempotency keys).
 *
 * One process owns a spool at a time (`<path>.lock` holds its pid); a spool whose owner died is
 * taken over by the next process that opens it.
 */
export class Spool {
  readonly path: string;
  private fd: number;
  private seq = 0;
  private readonly lock: string;

  constructor(path: string) {
    this.path = nodePath().resolve(path);
    fs().mkdirSync(nodePath().dirname(this.path), { recursive: true });
    this.lock = `${this.path}.lock`;
    this.takeLock();
    this.fd = fs().openSync(this.path, 'a');
  }

  private takeLock(): void {
    try {
      fs().writeFileSync(this.lock, String(process.pid), { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number(fs().readFileSync(this.lock, 'utf8').trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
      throw new TokenlayConfigError(
        `tokenlay: the ledger spool ${this.path} is in use by process ${owner}. Give each instance its own spool file (option spoolPath, env TOKENLAY_LEDGER_SPOOL).`,
      );
    }
    fs().writeFileSync(this.lock, String(process.pid));
  }

  /** Appends one row; it is on disk (in the OS's hands) when this returns. */
  append(entry: SpooledRow): void {
    fs().writeSync(this.fd, `${JSON.stringify(entry)}\n`);
  }

  /** Moves the live file aside as a segment (none when it is empty) and starts a fresh one. */
  rotate(rows: SpooledRow[]): Segment | undefined {
    if (fs().statSync(this.path).size === 0) return undefined;
    fs().closeSync(this.fd);
    const file = `${this.path}.${Date.now()}-${process.pid}-${this.seq++}.flushing`;
    fs().renameSync(this.path, file);
    this.fd = fs().openSync(this.path, 'a');
    return { file, rows };
  }

  /** Forgets a segment whose rows Postgres has committed. */
  done(segment: Segment): void {
    if (fs().existsSync(segment.file)) fs().unlinkSync(segment.file);
  }

  /**
   * What an earlier process left: its segments, oldest first, then its live file (moved aside as
   * a segment). A torn last line (killed mid-write) is skipped: that row's `record()` never returned.
   */
  leftovers(): Segment[] {
    const dir = nodePath().dirname(this.path);
    const name = nodePath().basename(this.path);
    const files = fs().readdirSync(dir)
      .filter((f) => f.startsWith(`${name}.`) && f.endsWith('.flushing'))
      .sort((a, b) => Number(a.slice(name.length + 1).split('-')[0]) - Number(b.slice(name.length + 1).split('-')[0]))
      .map((f) => nodePath().join(dir, f));
    const segments = files.map((file) => ({ file, rows: readRows(file) }));
    const live = readRows(this.path);
    if (live.length > 0) segments.push(this.rotate(live)!);
    return segments;
  }

  close(): void {
    fs().closeSync(this.fd);
    try {
      if (fs().readFileSync(this.lock, 'utf8').trim() === String(process.pid)) fs().unlinkSync(this.lock);
    } catch {
      // Already gone: nothing to release.
    }
  }
}

function readRows(file: string): SpooledRow[] {
  if (!fs().existsSync(file)) return [];
  const rows: SpooledRow[] = [];
  for (const line of fs().readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      rows.push(JSON.parse(line) as SpooledRow);
    } catch {
      // A line cut short by a kill mid-write.
    }
  }
  return rows;
}
