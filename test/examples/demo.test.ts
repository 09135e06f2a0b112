/**
 * `npm run demo`, run as a newcomer runs it: a real child process from the repository's root, the
 * package loaded from `dist/` by its public names, the demo app on a real socket, SQLite on disk.
 * The table it prints is checked against the rules file and against the ledger it wrote.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createStore, loadRules } from 'tokenlay';
import { ensureBuilt } from '../../scripts/ensure-built.mjs';
import { gate } from '../support/gate.js';
import { watchPrinted, type Printed } from '../support/printed.js';
import { useProvider, type Provider } from '../support/provider.js';
import { cleanEnv, EXAMPLES, ROOT, tail } from './support.js';

const execFileAsync = promisify(execFile);
const RULES = loadRules(join(EXAMPLES, 'demo', 'tokenlay.rules.yaml'));
const limitOf = (ruleId: string, type: string) => RULES.rules.find((r) => r.id === ruleId)!.then.limits!.find((l) => l.type === type)!.max;

interface Demo {
  output(): string;
  printed: Printed;
  /** Resolves npm's exit code (or the signal's name) once it and everything it started have let go of the output. */
  exited: Promise<number | string>;
  /** Sends a signal to the whole process group, as Ctrl-C in a terminal does. */
  signal(name: NodeJS.Signals): void;
}

const folders: string[] = [];
/** A question the provider stand-in holds until the test lets it answer. */
const SLOW = 'a question that takes a while';

/** `npm run demo -- …args` with no PROVIDER_* in its environment unless given; stdout is a pipe, not a TTY. */
function startDemo(args: string[], env: Record<string, string> = {}): Demo {
  const child = spawn('npm', ['run', 'demo', '--', ...args], { cwd: ROOT, env: { ...cleanEnv(), PORT: '0', ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const printed = watchPrinted([child.stdout, child.stderr]);
  // 'close', not 'exit': npm may exit before the demo it started, which holds the same pipes.
  const exited = new Promise<number | string>((resolve) => child.once('close', (code, signal) => resolve(code ?? signal ?? -1)));
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, name);
    } catch {
      // already gone
    }
  };
  // Never outlive the test, whatever happens to it.
  const killer = setTimeout(() => signal('SIGKILL'), 90_000);
  void exited.then(() => clearTimeout(killer));
  return { output: printed.text, printed, exited, signal };
}

async function runToEnd(args: string[], env?: Record<string, string>): Promise<string> {
  const demo = startDemo(args, env);
  const code = await demo.exited;
  if (code !== 0) throw new Error(`npm run demo -- ${args.join(' ')} exited with ${code}:\n${tail(demo.output())}`);
  return demo.output();
}

/** Waits (bounded) until the demo prints a line matching `pattern`, as it is printed. */
async function waitFor(demo: Demo, pattern: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
  return demo.printed.until(pattern, timeoutMs).catch((err: Error) => {
    throw new Error(`the demo never printed ${pattern}: ${err.message}`);
  });
}

/** The SQLite file the demo says it used; its folder is removed after the tests. */
function databaseOf(output: string): string {
  const path = output.match(/SQLite at (\S+\.db)/)?.[1];
  if (!path) throw new Error(`the demo did not print its SQLite file:\n${tail(output)}`);
  folders.push(dirname(path));
  return path;
}

interface Row {
  plan: string;
  calls: number;
  refused: number;
  inputTokens: number;
  outputTokens: number;
  cost: number;
  models: string;
  status: string;
}

/** The per-user table, by user (its `total` row included), with the models and status line printed under it. */
function tableOf(output: string): Map<string, Row> {
  const rows = new Map<string, Row>();
  const lines = output.split('\n');
  for (const line of lines) {
    if (!line.startsWith('│')) continue;
    const cells = line.split('│').slice(1, -1).map((c) => c.trim());
    if (cells[0] === 'user') continue;
    const [user, plan, calls, refused, tokens, cost] = cells as [string, string, string, string, string, string];
    const [inputTokens, outputTokens] = tokens.split('/').map((t) => Number(t.trim()));
    rows.set(user, { plan, calls: Number(calls), refused: Number(refused), inputTokens: inputTokens!, outputTokens: outputTokens!, cost: Number(cost), models: '', status: '' });
  }
  // Under the table: `alice  gpt-4o-mini ×3; blocked by free-tier after 3 (2 refused)`.
  for (const line of lines.slice(lines.findIndex((l) => l.startsWith('└')) + 1)) {
    const match = /^(\S+) +(.+?); (.+)$/.exec(line);
    const row = match && rows.get(match[1]!);
    if (row) Object.assign(row, { models: match[2], status: match[3] });
  }
  return rows;
}

beforeAll(() => ensureBuilt(), 300_000);
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

describe('npm run demo', () => {
  it('ends with a per-user table read from the ledger: the free user blocked at the rule max, the pro user downgraded past the cost cap, the enterprise user queued', async () => {
    const started = Date.now();
    const output = await runToEnd(['--no-serve', '--keep-ledger']);
    const seconds = (Date.now() - started) / 1000;

    expect(output).toMatch(/Provider: the local stand-in at http:\/\/127\.0\.0\.1:\d+\/v1 \(PROVIDER_API_KEY is not set\)/);
    // Not a terminal: plain lines, no cursor movements or colours.
    expect(output).not.toContain('\x1b[');
    expect(output).not.toContain('Dashboard:');

    const table = tableOf(output);
    expect([...table.keys()]).toEqual(['alice', 'bob', 'carol', 'total']);
    const alice = table.get('alice')!;
    const bob = table.get('bob')!;
    const carol = table.get('carol')!;

    const freeMax = limitOf('free-tier', 'requests');
    // Calls are the calls sent to a provider, as in the dashboard and tokenlay usage; refused ones are apart.
    expect(alice).toMatchObject({ plan: 'free', calls: freeMax, refused: 2, models: `gpt-4o-mini ×${freeMax}` });
    expect(alice.status).toBe(`blocked by free-tier after ${freeMax} (2 refused)`);
    expect(output).toContain('alice  refused (429): The free plan allows 3 requests a day; upgrade to pro for more.');

    expect(bob.plan).toBe('pro');
    expect(bob.status).toMatch(/^downgraded to gpt-4o-mini by pro-tier after (\d+)$/);
    const before = Number(bob.status.match(/after (\d+)$/)![1]);
    expect(bob.models).toBe(`gpt-4o ×${before}, gpt-4o-mini ×${bob.calls - before}`);
    expect(bob.calls - before).toBeGreaterThan(0);
    // His first warning is the 80 % threshold or, when less than a whole answer's worst case is left
    // of the cap, the output limit lowered to what still fits.
    expect(output).toMatch(/bob +warned: rule "pro-tier": (\d+% of the limit reached|max_tokens lowered to \d+ so that this call cannot pass \$0\.006 per month)/);

    expect(carol).toMatchObject({ plan: 'enterprise', calls: 6, models: 'gpt-4o ×6' });
    expect(carol.status).toMatch(/^ok, [1-4] of 6 queued by enterprise-tier$/);

    // Every number agrees with the ledger the demo left on disk.
    const store = createStore(`sqlite:${databaseOf(output)}`);
    try {
      const rows = await store.ledger();
      const total = { calls: 0, inputTokens: 0, outputTokens: 0, cost: 0 };
      for (const [user, row] of [...table].filter(([u]) => u !== 'total')) {
        const mine = rows.filter((r) => r.fields.user === user);
        expect(mine.every((r) => r.fields.plan === row.plan)).toBe(true);
        const answered = mine.filter((r) => r.status === 200);
        expect(row.refused).toBe(mine.filter((r) => r.status === 429).length);
        const sum = (key: 'inputTokens' | 'outputTokens' | 'cost') => mine.reduce((s, r) => s + r[key], 0);
        expect(row).toMatchObject({ calls: answered.length, inputTokens: sum('inputTokens'), outputTokens: sum('outputTokens'), cost: Number(sum('cost').toFixed(6)) });
        expect(row.cost).toBeGreaterThan(0);
        total.calls += row.calls;
        total.inputTokens += row.inputTokens;
        total.outputTokens += row.outputTokens;
        total.cost += sum('cost');
      }
      expect(table.get('total')).toMatchObject({ calls: total.calls, inputTokens: total.inputTokens, outputTokens: total.outputTokens, cost: Number(total.cost.toFixed(6)) });
      // Refused calls are in the ledger, at no cost, and never reached a model.
      expect(rows.filter((r) => r.status === 429).map((r) => [r.fields.user, r.action, r.cost])).toEqual([
        ['alice', 'block', 0],
        ['alice', 'block', 0],
      ]);
      // Bob stayed on gpt-4o while a call could still fit under the cap (never passing it), and moved
      // to gpt-4o-mini once not even a short answer fit in what was left.
      const cap = limitOf('pro-tier', 'cost');
      const bobs = rows.filter((r) => r.fields.user === 'bob');
      const spentBefore = bobs.slice(0, before).reduce((s, r) => s + r.cost, 0);
      const spentBeforeLast = bobs.slice(0, before - 1).reduce((s, r) => s + r.cost, 0);
      expect(spentBefore).toBeLessThanOrEqual(cap);
      expect(spentBefore).toBeGreaterThan(cap * 0.8);
      expect(spentBeforeLast).toBeLessThan(cap);
      expect(bobs.slice(before).every((r) => r.action === 'downgrade' && r.modelUsed === 'gpt-4o-mini')).toBe(true);
    } finally {
      await store.close();
    }
    console.info(`npm run demo -- --no-serve took ${seconds.toFixed(1)} s`);
  }, 120_000);

  it('serves the dashboard on the same ledger until Ctrl-C, then stops cleanly', async () => {
    const demo = startDemo(['--keep-ledger']);
    const [, url] = await waitFor(demo, /Dashboard: (http:\/\/127\.0\.0\.1:\d+\/dashboard\/)/);
    const page = await fetch(url!, { signal: AbortSignal.timeout(10_000) });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>Usage · tokenlay</title>');
    const report = await fetch(`${url}api/report?window=24h`, { signal: AbortSignal.timeout(10_000) });
    expect(report.status).toBe(200);
    const body = (await report.json()) as { breakdowns: { user: { groups: Array<{ key: string; calls: number }> } }; totals: { blocked: number } };
    expect(body.breakdowns.user.groups.map((g) => g.key).sort()).toEqual(['alice', 'bob', 'carol']);
    expect(body.totals.blocked).toBe(2);

    demo.signal('SIGINT');
    // npm ends itself by the same signal, whatever the demo did: the demo's own exit shows in what
    // it printed last, in no stack trace or error line, and in a SQLite file that was closed.
    expect(await demo.exited).toBe('SIGINT');
    const output = demo.output();
    expect(output).toMatch(/Stopping: settling calls in flight and writing the ledger…\nStopped\. The ledger stays in \S+\.db\.\n$/);
    expect(output).not.toMatch(/\n\s+at |The demo stopped: |Error/);
    databaseOf(output);
  }, 120_000);

  it('leaves no folder behind unless asked to keep the ledger', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'tokenlay-demo-tmp-'));
    folders.push(tmp);
    const output = await runToEnd(['--no-serve'], { TMPDIR: tmp });
    expect(output).toContain(`SQLite at ${tmp}/tokenlay-demo-`);
    expect(readdirSync(tmp)).toEqual([]);
  }, 120_000);

  describe.each([
    [80, 24],
    [200, 50],
  ])('in a %i×%i terminal (tmux)', (columns, rows) => {
    it('fits: no line wraps, the table is narrower than the terminal, log lines are whole, each user has one progress line', async () => {
      const tmp = mkdtempSync(join(tmpdir(), 'tokenlay-demo-tty-'));
      folders.push(tmp);
      const socket = `tokenlay-demo-test-${process.pid}-${columns}`;
      const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
      const env = Object.entries({ ...cleanEnv(), PORT: '0', TMPDIR: tmp }).map(([k, v]) => `${k}=${JSON.stringify(v)}`.replace(/\$/g, '\\$'));
      const command = `cd ${JSON.stringify(ROOT)} && env -i ${env.join(' ')} node examples/demo/demo.js --no-serve; echo "demo exited $?"; tmux -L ${socket} wait-for -S demo-exited; sleep 120`;
      tmux('new-session', '-d', '-s', 'demo', '-x', String(columns), '-y', String(rows), command);
      try {
        // -J joins a line the terminal wrapped back into one: a wrapped line shows as a long one.
        const screen = () => tmux('capture-pane', '-p', '-J', '-t', 'demo', '-S', '-500');
        // The shell in the pane signals the channel once the demo has exited (tmux keeps a signal sent before the wait).
        await execFileAsync('tmux', ['-L', socket, 'wait-for', 'demo-exited'], { timeout: 90_000 }).catch(() => undefined);
        // The pane may show the echoed line a moment after the signal.
        await vi.waitFor(() => expect(screen()).toMatch(/demo exited \d+/), { timeout: 10_000, interval: 50 }).catch(() => undefined);
        const text = screen();
        expect(text, text).toContain('demo exited 0');
        const lines = text.split('\n').map((l) => l.trimEnd());
        expect(lines.filter((l) => l.length >= columns)).toEqual([]);
        const table = lines.filter((l) => /^[┌│├└]/.test(l));
        expect(table.length).toBeGreaterThan(5);
        expect(Math.max(...table.map((l) => l.length))).toBeLessThan(80);
        // Each user's progress line, once, at the end of their requests.
        for (const [user, done] of [['alice', '5/5'], ['bob', '8/8'], ['carol', '6/6']] as const) {
          const bars = lines.filter((l) => new RegExp(`^${user} +\\w+ +\\[`).test(l));
          expect(bars, `${user}:\n${text}`).toHaveLength(1);
          expect(bars[0]).toContain(`${done} requests`);
        }
        // Log lines wrap between words under their user, and say the whole message.
        const log = text.replace(/\n {7}(?=\S)/g, ' ');
        expect(log).toContain('alice  refused (429): The free plan allows 3 requests a day; upgrade to pro for more.\n');
        expect(log).toMatch(/bob +now answered by gpt-4o-mini: .*; downgraded to gpt-4o-mini\n/);
        expect(readdirSync(tmp)).toEqual([]);
      } finally {
        tmux('kill-server');
      }
    }, 150_000);
  });

  it('says which PORT it cannot use, and how to pick one', async () => {
    const demo = startDemo(['--no-serve'], { PORT: 'abc' });
    expect(await demo.exited).toBe(1);
    expect(demo.output()).toContain('The demo stopped: PORT is "abc", not a port number; PORT=3001 npm run demo picks another, and without PORT the demo uses 3000 or a free one.');
  }, 120_000);

  describe('with PROVIDER_API_KEY', () => {
    let provider: Provider;
    useProvider((p) => (provider = p));

    it('calls the provider at PROVIDER_API_BASE with that key instead of the local stand-in', async () => {
      const key = 'sk-demo-test-provider-key';
      const output = await runToEnd(['--no-serve', '--keep-ledger'], { PROVIDER_API_KEY: key, PROVIDER_API_BASE: provider.base });
      databaseOf(output);
      expect(output).toContain(`Provider: ${provider.base}, with your PROVIDER_API_KEY`);
      expect(output).not.toContain('local stand-in');
      expect(output).not.toContain(key);

      const table = tableOf(output);
      const chats = provider.requests.filter((r) => r.path === '/v1/chat/completions');
      expect(chats.length).toBe(table.get('total')!.calls);
      expect(chats.every((r) => r.headers.authorization === `Bearer ${key}`)).toBe(true);
      // The rules chose each plan's model; the free user's refused calls never reached the provider.
      expect(chats.filter((r) => r.body.model === 'gpt-4o-mini').length).toBe(table.get('alice')!.calls);
      expect(chats.filter((r) => r.body.stream === true).length).toBe(6);
    }, 120_000);

    it('Ctrl-C while a call is in flight: the caller gets its answer and the call is in the ledger', async () => {
      // The stand-in answers the slow question only once the demo is stopping.
      const answered = gate();
      provider.options.behavior = (r) => (r.body?.messages?.[0]?.content === SLOW ? { kind: 'hold', until: answered.until } : undefined);
      const demo = startDemo(['--keep-ledger'], { PROVIDER_API_KEY: 'sk-demo-test-provider-key', PROVIDER_API_BASE: provider.base });
      const [, app] = await waitFor(demo, /App: (http:\/\/127\.0\.0\.1:\d+)/);
      await waitFor(demo, /Dashboard: /);
      const login = await fetch(`${app}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'carol', password: 'carol-pw' }) });
      const { token } = (await login.json()) as { token: string };
      const answer = fetch(`${app}/chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ question: SLOW }),
        signal: AbortSignal.timeout(20_000),
      });
      // Ctrl-C once the provider has the call.
      await provider.received(1, (r) => r.body?.messages?.[0]?.content === SLOW);

      demo.signal('SIGINT');
      await waitFor(demo, /Stopping: settling calls in flight/);
      answered.open();
      const res = await answer;
      expect(res.status).toBe(200);
      expect(((await res.json()) as { answer: string }).answer).toBe('hello anonymous');
      expect(await demo.exited).toBe('SIGINT');

      const store = createStore(`sqlite:${databaseOf(demo.output())}`);
      try {
        const carol = (await store.ledger()).filter((r) => r.fields.user === 'carol');
        expect(carol.length).toBe(7);
        expect(carol.at(-1)).toMatchObject({ status: 200, modelUsed: 'gpt-4o', inputTokens: 10, outputTokens: 5 });
      } finally {
        await store.close();
      }
    }, 120_000);
  });
});
