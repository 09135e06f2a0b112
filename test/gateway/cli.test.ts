import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { runCli, startGatewayCli } from './cli.js';
import { gate } from '../support/gate.js';
import { hello, PROVIDER_KEY, tempDir, onCleanup } from './support.js';
import { startProvider } from '../support/provider.js';

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

async function provider(options: Parameters<typeof startProvider>[0] = {}) {
  const p = await startProvider(options);
  onCleanup(() => p.close());
  return p;
}

const lastLine = (text: string) => text.trim().split('\n').at(-1)!;

describe('tokenlay keys', () => {
  it('creates a key (printed as the last line), lists names without keys, revokes by name', async () => {
    const cwd = tempDir();
    const created = await runCli(['keys', 'create', '--name', 'acme'], { cwd });
    expect(created.code).toBe(0);
    const key = lastLine(created.stdout);
    expect(key).toMatch(/^tl_[A-Za-z0-9_-]{43}$/);
    const stored = readFileSync(join(cwd, '.tokenlay', 'usage.db')).toString('latin1');
    expect(stored).not.toContain(key);

    const dup = await runCli(['keys', 'create', '--name', 'acme'], { cwd });
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('already exists');
    const bad = await runCli(['keys', 'create', '--name', 'bad name!'], { cwd });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('"bad name!"');

    const list = await runCli(['keys', 'list'], { cwd });
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/NAME\s+CREATED\s+LAST USED/);
    expect(list.stdout).toMatch(/^acme\s+\d{4}-\d\d-\d\dT\S+\s+-\s+active$/m);
    expect(list.stdout).not.toContain(key);

    expect((await runCli(['keys', 'revoke', 'acme'], { cwd })).code).toBe(0);
    expect((await runCli(['keys', 'list'], { cwd })).stdout).toMatch(/^acme\s.*revoked/m);
    const again = await runCli(['keys', 'revoke', 'acme'], { cwd });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no active key named "acme"');
  });
});

describe('tokenlay gateway', () => {
  it('--help lists every flag with its default and env var', async () => {
    const { code, stdout } = await runCli(['gateway', '--help'], { cwd: tempDir() });
    expect(code).toBe(0);
    for (const [flag, env] of [
      ['--host', 'TOKENLAY_HOST'],
      ['--port', 'TOKENLAY_PORT'],
      ['--rules', 'TOKENLAY_RULES'],
      ['--store', 'TOKENLAY_STORE'],
      ['--allow-provider-base', 'TOKENLAY_ALLOW_PROVIDER_BASE'],
      ['--stream-idle-timeout', 'TOKENLAY_STREAM_IDLE_TIMEOUT'],
      ['--log-format', 'TOKENLAY_LOG_FORMAT'],
    ]) {
      const line = stdout.split('\n').find((l) => l.trimStart().startsWith(flag + ' '));
      expect(line, flag).toBeDefined();
      expect(line).toContain(`env: ${env}`);
      expect(line).toContain('default: ');
    }
    expect(stdout).toContain('default: 8787');
    expect(stdout).toContain('default: 127.0.0.1');
  });

  it('--help of every command fits an 80-column terminal', async () => {
    for (const command of ['gateway', 'keys', 'usage', 'export']) {
      const { stdout } = await runCli([command, '--help'], { cwd: tempDir() });
      const wide = stdout.split('\n').filter((l) => l.length > 80);
      expect(wide, command).toEqual([]);
    }
  });

  it('--rules with no value says it needs a value (not that it "is ambiguous"); a missing rules file names --rules and the file', async () => {
    const cwd = tempDir();
    for (const args of [['gateway', '--rules'], ['gateway', '--rules', '--port', '0']]) {
      const { code, stderr } = await runCli(args, { cwd });
      expect(code).toBe(1);
      expect(stderr).toContain('--rules needs a value: --rules FILE');
      expect(stderr).not.toContain('ambiguous');
    }
    const missing = await runCli(['gateway', '--port', '0', '--rules', 'tokenlay.rules.yml'], { cwd });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('--rules names the rules file "tokenlay.rules.yml", and there is no file there');
    expect(missing.stderr).not.toContain('given as policy');
    const fromEnv = await runCli(['gateway', '--port', '0'], { cwd, env: { TOKENLAY_RULES: 'gone.yaml' } });
    expect(fromEnv.code).toBe(1);
    expect(fromEnv.stderr).toContain('TOKENLAY_RULES names the rules file "gone.yaml"');
  });

  it('an unknown flag gets "did you mean"', async () => {
    const { code, stderr } = await runCli(['gateway', '--prot', '1'], { cwd: tempDir() });
    expect(code).toBe(1);
    expect(stderr).toContain('unknown flag --prot; did you mean --port?');
  });

  it('refuses a bad flag value with the value and the fix', async () => {
    const { code, stderr } = await runCli(['gateway', '--port', 'eighty'], { cwd: tempDir() });
    expect(code).toBe(1);
    expect(stderr).toContain('--port');
    expect(stderr).toContain('"eighty"');
    const unknown = await runCli(['gateway', '--prot', '1'], { cwd: tempDir() });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('Known flags');
  });

  it('stops at start (exit 1) on a rules file with problems, naming each path', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'rules.yaml'), "version: '0.1'\nrules:\n  - id: a\n    if: {}\n    then: { limits: [{ type: requests, max: -1, window: fortnight, per: user }] }\n");
    const { code, stderr } = await runCli(['gateway', '--port', '0', '--rules', 'rules.yaml'], { cwd });
    expect(code).toBe(1);
    expect(stderr).toContain('rules[0].then.limits[0].window');
    expect(stderr).toContain('rules[0].then.limits[0].max');
  });

  it('starts with no configuration on --port 0, proxies with a CLI-made key, and on SIGTERM finishes the stream in flight, writes the ledger, exits 0', async () => {
    const answer = gate();
    const p = await provider({ behavior: (r) => (r.body?.stream ? { kind: 'hold', until: answer.until } : undefined) });
    const cwd = tempDir();
    const key = lastLine((await runCli(['keys', 'create', '--name', 'acme'], { cwd })).stdout);
    const gw = await startGatewayCli(['--port', '0'], { cwd, env: { TOKENLAY_ALLOW_PROVIDER_BASE: p.base } });
    expect(gw.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const headers = { authorization: `Bearer ${key}`, 'x-tokenlay-provider-key': PROVIDER_KEY, 'x-tokenlay-provider-base': p.base, 'content-type': 'application/json', 'x-tokenlay-user': 'ann' };
    const plain = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify(hello) });
    expect(plain.status).toBe(200);

    const streaming = fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify({ ...hello, stream: true }) });
    // SIGTERM while the stream is at the provider; the provider answers only once the gateway is shutting down.
    await p.received(1, (r) => r.body?.stream === true);
    gw.proc.kill('SIGTERM');
    await gw.err.until(/SIGTERM: finishing calls in flight/, 20_000);
    answer.open();
    const res = await streaming;
    const body = await res.text();
    expect(body).toContain('data: [DONE]');
    expect(await gw.exited).toBe(0);

    const store = createSqliteStore({ path: join(cwd, '.tokenlay', 'usage.db') });
    const rows = await store.ledger();
    await store.close();
    expect(rows.map((r) => [r.fields.user, r.fields.account, r.status])).toEqual([['ann', 'acme', 200], ['ann', 'acme', 200]]);
    expect(rows[1]!.outputTokens).toBe(5);

    // The provider key is nowhere: not in any file under ./.tokenlay/, not in the log.
    for (const file of filesUnder(join(cwd, '.tokenlay'))) expect(readFileSync(file).toString('latin1').includes(PROVIDER_KEY), file).toBe(false);
    expect(gw.stdout() + gw.stderr()).not.toContain(PROVIDER_KEY);
    expect(gw.stdout() + gw.stderr()).not.toContain(key);
    const callLines = gw.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((l) => l.msg === 'call');
    expect(callLines).toHaveLength(2);
  });

  it('re-reads the rules file when it changes; a new file with problems is refused by path and the old rules stay', async () => {
    const p = await provider();
    const cwd = tempDir();
    const key = lastLine((await runCli(['keys', 'create', '--name', 'acme'], { cwd })).stdout);
    const rules = (max: number | string) => `version: '0.1'\nrules:\n  - id: cap\n    if: {}\n    then: { limits: [{ type: requests, max: ${max}, window: day, per: user }] }\n`;
    writeFileSync(join(cwd, 'rules.yaml'), rules(1));
    const gw = await startGatewayCli([], { cwd, env: { TOKENLAY_PORT: '0', TOKENLAY_RULES: 'rules.yaml', TOKENLAY_ALLOW_PROVIDER_BASE: p.base, TOKENLAY_STORE: 'memory' } });
    const headers = { authorization: `Bearer ${key}`, 'x-tokenlay-provider-key': PROVIDER_KEY, 'x-tokenlay-provider-base': p.base, 'content-type': 'application/json', 'x-tokenlay-user': 'ann' };
    const call = async () => (await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify(hello) })).status;
    expect(await call()).toBe(200);
    expect(await call()).toBe(429);

    writeFileSync(join(cwd, 'rules.yaml'), rules(3));
    await gw.out.until(/rules reloaded/, 20_000);
    expect(await call()).toBe(200);

    writeFileSync(join(cwd, 'rules.yaml'), rules('"many"'));
    await gw.out.until(/rules refused/, 20_000);
    const refused = gw.stdout().split('\n').find((l) => l.includes('rules refused'))!;
    expect(refused).toContain('rules[0].then.limits[0].max');
    // The counters were kept and the old rules (max 3) are still in force.
    expect(await call()).toBe(200);
    expect(await call()).toBe(429);
    gw.proc.kill('SIGINT');
    expect(await gw.exited).toBe(0);
  });
});
