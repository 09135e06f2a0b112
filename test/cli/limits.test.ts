import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine/index.js';
import { startProvider } from '../support/provider.js';
import { runCli } from './run-cli.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function storeSpec(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tokenlay-limits-cli-'));
  dirs.push(dir);
  return `sqlite:${join(dir, 'usage.db')}`;
}

describe('tokenlay limits and tokenlay credits', () => {
  it('limits set, list and clear, with who changed what and when; an engine on the same store applies them', async () => {
    const store = storeSpec();
    const set = await runCli(['limits', 'set', '--user', 'alice', '--type', 'cost', '--max', '50', '--window', 'month', '--until', '2099-01-31', '--note', 'annual plan', '--store', store]);
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    // The day given is the day shown: --until 2099-01-31 runs to the end of that day.
    expect(set.stdout).toMatch(/Set user alice's cost limit to \$50 per month until the end of 2099-01-31 \(UTC\)/);

    const list = await runCli(['limits', 'list', '--store', store]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/user=alice\s+cost\s+\$50\s+month\s+end of 2099-01-31\s+\(all\)\s+cli:\S+\s+\S+\s+annual plan/);
    expect(list.stdout).toMatch(/Changes, newest first:\n\S+\s+cli:\S+\s+set\s+user=alice\s+cost\s+\$50\s+month/);
    const json = JSON.parse((await runCli(['limits', 'list', '--json', '--store', store])).stdout);
    expect(json.limits).toMatchObject([{ target: 'user', value: 'alice', type: 'cost', max: 50, window: 'month', until: '2099-02-01T00:00:00Z', note: 'annual plan' }]);
    expect(json.limits[0].setAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/);
    expect(json.changes[0].time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/);

    // An app's engine on the same file: a $1 rule, raised to $50 for alice by the command.
    const provider = await startProvider({ usage: { prompt: 10, completion: 5 } });
    const engine = createEngine({
      rules: { rules: [{ id: 'cap', if: {}, then: { limits: [{ type: 'cost', max: 1, window: 'month', per: 'user' }] } }] },
      store,
      prices: { 'gpt-4o-mini': { input: 100_000, output: 200_000 } },
    });
    try {
      const call = (user: string) =>
        engine.handle({
          url: `${provider.base}/chat/completions`,
          method: 'POST',
          headers: new Headers({ authorization: 'Bearer sk-x', 'content-type': 'application/json', 'x-tokenlay-user': user }),
          body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
        });
      expect((await call('alice')).status).toBe(200);
      expect((await call('bob')).status).toBe(429);

      const cleared = await runCli(['limits', 'clear', '--user', 'alice', '--type', 'cost', '--store', store]);
      expect(cleared.code).toBe(0);
      expect(cleared.stdout).toMatch(/Cleared the cost override of user alice/);
      await expect.poll(async () => (await call('alice')).status, { timeout: 5000, interval: 200 }).toBe(429);
    } finally {
      await engine.close();
      await provider.close();
    }
    const again = await runCli(['limits', 'clear', '--user', 'alice', '--type', 'cost', '--store', store]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/no override of "cost" for user alice/);
    expect((await runCli(['limits', 'list', '--store', store])).stdout).toMatch(/clear\s+user=alice\s+cost\s+\$50/);
  }, 60_000);

  it('credits add grants a balance, recorded in the ledger, and credits balance reads it', async () => {
    const store = storeSpec();
    const add = await runCli(['credits', 'add', '--user', 'alice', '--usd', '10', '--store', store]);
    expect(add.stderr).toBe('');
    expect(add.stdout).toMatch(/Added \$10 to the credits of user alice: granted \$10, used \$0, remaining \$10/);
    await runCli(['credits', 'add', '--user', 'alice', '--usd', '2.5', '--store', store]);
    const balance = JSON.parse((await runCli(['credits', 'balance', '--user', 'alice', '--json', '--store', store])).stdout);
    expect(balance).toMatchObject({ target: 'user', value: 'alice', granted: 12.5, used: 0, remaining: 12.5 });
    const csv = await runCli(['export', '--csv', '-', '--store', store]);
    expect(csv.stdout.match(/tokenlay:credits/g)).toHaveLength(2);
  }, 30_000);

  it('refuses bad flags with what was wrong and the fix', async () => {
    const store = storeSpec();
    const cases: Array<[string[], RegExp]> = [
      [['limits', 'set', '--user', 'alice', '--type', 'cost', '--window', 'month', '--store', store], /set needs --max N/],
      [['limits', 'set', '--user', 'alice', '--type', 'cost', '--max', 'fifty', '--window', 'month', '--store', store], /max must be a number ≥ 0 \(USD\); got "fifty"/],
      [['limits', 'set', '--user', 'alice', '--type', 'cost', '--max', '5', '--window', 'month', '--until', '2001-01-01', '--store', store], /already past/],
      [['limits', 'set', '--type', 'cost', '--max', '5', '--window', 'month', '--store', store], /exactly one of user, org or plan/],
      [['limits', 'set', '--user', 'alice', '--type', 'cost', '--max', '5', '--window', 'month', '--store', 'memory'], /"memory" is neither.*--store sqlite:/],
      [['limits', 'set', '--user', 'alice', '--type', 'cost', '--max', '5', '--store', store], /window is missing; give one of minute, hour, day, month, year, total \(e\.g\. --window month\)\./],
      [['limits', 'set', '--user', 'alice', '--max', '5', '--window', 'day', '--store', store], /type is missing; give one of requests, tokens, cost, concurrent/],
      [['limits', 'clear', '--user', 'alice', '--store', store], /type is missing; give one of requests, tokens, cost, concurrent/],
      [['limits', 'reset', '--store', store], /unknown action "reset": set, list or clear/],
      [['limits', 'set', '--usr', 'alice', '--store', store], /unknown flag --usr; did you mean --user\?/],
      [['credits', 'add', '--user', 'alice', '--usd=-3', '--store', store], /usd must be a positive amount.*"-3"/],
      [['credits', 'add', '--user', 'alice', '--store', store], /add needs --usd AMOUNT/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
  }, 60_000);

  it('says which store it could not reach, password hidden, and what to check', async () => {
    // A port nothing listens on: taken from the system, then given back.
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = probe.address() as AddressInfo;
        probe.close(() => resolve(p));
      });
    });
    const ledger = `postgres://postgres:s3cret-pw@127.0.0.1:${port}/test`;
    for (const args of [['limits', 'list'], ['credits', 'add', '--user', 'alice', '--usd', '1']]) {
      const r = await runCli([...args, '--store', storeSpec(), '--ledger', ledger]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(new RegExp(`tokenlay ${args[0]}: could not reach the Postgres ledger postgres://postgres:\\*\\*\\*@127\\.0\\.0\\.1:${port}/test.*ECONNREFUSED.*--ledger`));
      expect(r.stderr).not.toContain('s3cret-pw');
    }
  }, 60_000);
});
