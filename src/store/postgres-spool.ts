import { TokenlayConfigError } from '../errors.js';
import type * as NodeFs from 'node:fs';
import type * as NodeOs from 'node:os';
import type * as NodePath from 'node:path';
import { nodeBuiltin } from '../node-builtins.js';
import type { LedgerRow } from './types.js';

// Fetched on first use: the store module is reachable from the root entry, which must load where node:fs does not exist.
const fs = () => nodeBuiltin<typeof NodeFs>('node:fs', 'the Postgres ledger spool');
const nodePath = () => nodeBuiltin<typeof NodePath>('node:path', 'the Postgres ledger spool');
const os = () => nodeBuiltin<typeof NodeOs>('node:os', 'the Postgres ledger spool');

/** This host's name as it goes into a file name: letters, digits, `.`, `_` and `-` only. */
function hostTag(): string {
  return os().hostname().replace(/[^A-Za-z0-9._-]/g, '_') || 'host';
}

/** Who owns a spool: what its `.lock` file holds (`<pid>@<host>`, or a bare pid from older versions). */
function ownerTag(): string {
  return `${process.pid}@${hostTag()}`;
}

/**
 * The default spool of this process: `./.tokenlay/ledger-<host>-<pid>.spool`. Every instance
 * started in one folder (pm2 cluster mode, node:cluster workers, two `tokenlay gateway`) gets its
 * own, and the host keeps containers sharing a volume (each with pid 1) apart.
 */
export function defaultSpoolPath(): string {
  return nodePath().join('.tokenlay', `ledger-${hostTag()}-${process.pid}.spool`);
}

// Files of spools with the default names (this version's, and the single `ledger.spool` of
// earlier ones): the live file, its lock, and its segments waiting for PostgreSQL.
const DEFAULT_FILE = /^(ledger(?:-[^.]+(?:\.[^.]+)*?)?\.spool)(?:\.lock|\.\d+-\d+-\d+\.flushing)?$/;

/**
 * The spools with default names beside `own` whose owner is gone (its process ended, on this
 * host), each opened as this process's: the caller replays their rows, then closes them with
 * `retire()`. Two instances starting at once may both open one; the rows' idempotency keys keep
 * the ledger from doubling them. Spools of live processes, or of other hosts, are left alone.
 */
export function adoptDeadSpools(own: string): Spool[] {
  const dir = nodePath().dirname(own);
  const adopted: Spool[] = [];
  const names = new Set(fs().readdirSync(dir).map((file) => DEFAULT_FILE.exec(file)?.[1]).filter((name) => name !== undefined));
  for (const name of names) {
    const path = nodePath().join(dir, name);
    if (path === own) continue;
    try {
      adopted.push(new Spool(path));
    } catch {
      // Owned by a live process (or another host), or taken by another instance just now.
    }
  }
  return adopted;
}

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
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !zombie(pid);
}

/**
 * A process killed but not yet reaped (its parent died with it, and the new parent reaps later)
 * still answers `kill(pid, 0)`; on Linux its state in /proc says it is dead (`Z`).
 */
function zombie(pid: number): boolean {
  try {
    const stat = fs().readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false; // no /proc (macOS, Windows) or gone meanwhile: kill(pid, 0) has answered
  }
}

/**
 * The local spool in front of the Postgres ledger. Each row is appended (one `write` to an
 * append-mode file) before `record()` returns, so a SIGKILL loses nothing that was settled: the
 * next start replays the file. Flushing first renames the live file to a segment, so rows
 * recorded during a flush go to a fresh file; a segment is deleted only after Postgres committed
 * its rows, and replaying one twice is harmless (idempotency keys).
 *
 * One process owns a spool at a time (`<path>.lock` holds its `pid@host`); a spool whose owner
 * died on this host is taken over by the next process that opens it.
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
      fs().writeFileSync(this.lock, ownerTag(), { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const [pidText, host] = fs().readFileSync(this.lock, 'utf8').trim().split('@');
    const owner = Number(pidText);
    // A process on another host sharing this folder cannot be checked: it counts as alive.
    const elsewhere = host !== undefined && host !== hostTag();
    if (elsewhere || (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner))) {
      throw new TokenlayConfigError(
        `tokenlay: the ledger spool ${this.path} is in use by process ${owner}${elsewhere ? ` on ${host}` : ''}. Give each instance its own spool file (option spoolPath, env TOKENLAY_LEDGER_SPOOL). Or leave both unset: the default name is one per process.`,
      );
    }
    fs().writeFileSync(this.lock, ownerTag());
  }

  /** Appends one row; it is on disk (in the OS's hands) when this returns. */
  append(entry: SpooledRow): void {
    fs().writeSync(this.fd, `${JSON.stringify(entry)}\n`);
  }

  /** Moves the live file aside as a segment (none when it is empty) and starts a fresh one. */
  rotate(rows: SpooledRow[]): Segment | undefined {
    const file = `${this.path}.${Date.now()}-${process.pid}-${this.seq++}.flushing`;
    // An adopted spool that another instance, starting at the same moment, moved aside or removed
    // first (see adoptDeadSpools): its rows are then in that instance's hands too, and the
    // ledger keeps each once (idempotency keys). Here they are still written, from `rows`.
    const gone = () => (rows.length > 0 ? { file, rows } : undefined);
    try {
      // Empty: nothing to move (or, with rows read from it, another instance moved it and left a new one).
      if (fs().statSync(this.path).size === 0) return gone();
    } catch (error) {
      if (isMissing(error)) return gone();
      throw error;
    }
    fs().closeSync(this.fd);
    try {
      fs().renameSync(this.path, file);
    } catch (error) {
      if (!isMissing(error)) throw error;
      this.fd = fs().openSync(this.path, 'a');
      return gone();
    }
    this.fd = fs().openSync(this.path, 'a');
    return { file, rows };
  }

  /** Forgets a segment whose rows Postgres has committed (another instance replaying it too may have removed it already). */
  done(segment: Segment): void {
    fs().rmSync(segment.file, { force: true });
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
    const moved = live.length > 0 ? this.rotate(live) : undefined;
    if (moved) segments.push(moved);
    return segments;
  }

  close(): void {
    fs().closeSync(this.fd);
    try {
      if (fs().readFileSync(this.lock, 'utf8').trim() === ownerTag()) fs().unlinkSync(this.lock);
    } catch {
      // Already gone: nothing to release.
    }
  }

  /**
   * Closes an adopted spool whose rows were all written, and removes its (empty) file and lock.
   * Two instances starting at once may both have adopted it: the other may have removed the file
   * already, which leaves nothing to do here.
   */
  retire(): void {
    let empty = true;
    try {
      empty = fs().statSync(this.path).size === 0;
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    this.close();
    if (empty) fs().rmSync(this.path, { force: true });
  }
}

/** A file another instance replaying the same adopted spool has moved or removed meanwhile. */
function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

function readRows(file: string): SpooledRow[] {
  let text: string;
  try {
    text = fs().readFileSync(file, 'utf8');
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
  const rows: SpooledRow[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      rows.push(JSON.parse(line) as SpooledRow);
    } catch {
      // A line cut short by a kill mid-write.
    }
  }
  return rows;
}
