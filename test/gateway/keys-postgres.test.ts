/**
 * Keys in the Postgres ledger: `tokenlay keys … --ledger postgres://…` and every `tokenlay gateway`
 * given the same `--ledger` share them. Needs the machine's PostgreSQL (fails, never skips, when it
 * is down).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pgQuery, POSTGRES_URL, REDIS_URL, usePostgresSchemas } from '../store/services.js';
import { createGateway } from '../../src/gateway/gateway.js';
import { createLogger } from '../../src/gateway/log.js';
import { createPostgresKeyStore } from '../../src/gateway/keys-postgres.js';
import { runCli, spawnCli, startGatewayCli } from './cli.js';
import { captureLog, onCleanup, tempDir } from './support.js';

const schemaName = usePostgresSchemas();
const lastLine = (text: string) => text.trim().split('\n').at(-1)!;
const health = (url: string, key: string) => fetch(`${url}/v1/health`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.status);

describe('tokenlay keys with a Postgres ledger', () => {
  it('a key created with --ledger works on every gateway sharing it, is listed without the key, and once revoked is refused by all within the cache time', async () => {
    const schema = schemaName();
    const ledger = `${POSTGRES_URL}?schema=${schema}`;
    const cwd = tempDir();

    const created = await runCli(['keys', 'create', '--name', 'acme', '--ledger', ledger, '--store', 'memory'], { cwd });
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const key = lastLine(created.stdout);
    expect(key).toMatch(/^tl_[A-Za-z0-9_-]{43}$/);
    const dup = await runCli(['keys', 'create', '--name', 'acme', '--ledger', ledger], { cwd });
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('already exists');

    // Two gateways, each with its own working folder (no shared SQLite file), one ledger.
    const gateways = await Promise.all(
      [tempDir(), tempDir()].map((dir) =>
        startGatewayCli(['--port', '0', '--store', 'memory', '--ledger', ledger, '--ledger-spool', join(dir, 'ledger.spool'), '--log-level', 'silent'], { cwd: dir }),
      ),
    );
    for (const g of gateways) {
      expect(await health(g.url, key)).toBe(200);
      expect(await health(g.url, key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A'))).toBe(401);
    }

    // The key is in no column of the table: only its SHA-256.
    const rows = await pgQuery<{ text: string; hash: Buffer }>(`SELECT t::text AS text, hash FROM "${schema}".tokenlay_keys t`);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.text).not.toContain(key);
    expect(rows[0]!.text).not.toContain(key.slice(3));
    expect(rows[0]!.hash.equals(createHash('sha256').update(key).digest())).toBe(true);

    // "Last used" is written in the background on the first call.
    let list = await runCli(['keys', 'list', '--ledger', ledger], { cwd });
    for (let i = 0; i < 20 && /^acme\s+\S+\s+-\s/m.test(list.stdout); i++) {
      // Polled (bounded): "last used" is written in the background by the gateway process.
      await new Promise((r) => setTimeout(r, 100));
      list = await runCli(['keys', 'list', '--ledger', ledger], { cwd });
    }
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/NAME\s+CREATED\s+LAST USED\s+STATUS/);
    expect(list.stdout).toMatch(/^acme\s+\d{4}-\d\d-\d\dT\S+Z\s+\d{4}-\d\d-\d\dT\S+Z\s+active$/m);
    expect(list.stdout).not.toContain(key);

    const revoked = await runCli(['keys', 'revoke', 'acme', '--ledger', ledger], { cwd });
    expect(revoked.code).toBe(0);
    const revokedAt = Date.now();
    for (const g of gateways) {
      for (;;) {
        const status = await health(g.url, key);
        if (status === 401) break;
        expect(status).toBe(200);
        // The gateways cache a key's account for 5 s; a little slack for a busy machine.
        expect(Date.now() - revokedAt).toBeLessThan(7000);
        // Polled (bounded): the gateway processes forget the key when their 5 s cache runs out, on their own clocks.
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    expect((await runCli(['keys', 'list', '--ledger', ledger], { cwd })).stdout).toMatch(/^acme\s.*revoked \d{4}-/m);
    const again = await runCli(['keys', 'revoke', 'acme', '--ledger', ledger], { cwd });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no active key named "acme"');
  }, 60_000);

  it('an unreachable ledger is named (password redacted) with the fix, by keys and by the gateway', async () => {
    const ledger = 'postgres://postgres:s3cret-pw@127.0.0.1:1/test';
    const cwd = tempDir();
    const keys = await runCli(['keys', 'list', '--ledger', ledger], { cwd });
    expect(keys.code).toBe(1);
    expect(keys.stderr).toContain('postgres://postgres:***@127.0.0.1:1/test');
    expect(keys.stderr).toContain('--ledger');
    expect(keys.stderr).not.toContain('s3cret-pw');
    await expect(startGatewayCli(['--port', '0', '--store', 'memory', '--ledger', ledger, '--ledger-spool', join(cwd, 'ledger.spool')], { cwd })).rejects.toThrow(
      /cannot use the Postgres key store at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/test/,
    );
  });

  it('a gateway on Redis whose PostgreSQL ledger is unreachable at start exits 1 with the message, rather than hanging on its Redis connection', async () => {
    const cwd = tempDir();
    const ledger = 'postgres://postgres:s3cret-pw@127.0.0.1:1/test';
    const cli = spawnCli(['gateway', '--port', '0', '--store', REDIS_URL, '--ledger', ledger, '--ledger-spool', join(cwd, 'ledger.spool')], { cwd });
    const code = await Promise.race([cli.exited, new Promise((resolve) => setTimeout(() => resolve('still running after 20 s'), 20_000))]);
    expect(code, cli.stderr()).toBe(1);
    expect(cli.stderr()).toContain('cannot use the Postgres key store at postgres://postgres:***@127.0.0.1:1/test');
  }, 30_000);

  it('a gateway whose key store stops answering refuses calls with 503 key_store_unavailable, not a 500 or a pass', async () => {
    const keys = createPostgresKeyStore({ url: 'postgres://postgres:s3cret-pw@127.0.0.1:1/test' });
    const gateway = createGateway({ store: 'memory', keys, logger: false });
    onCleanup(async () => {
      await gateway.close();
      await keys.close();
    });
    const { url } = await gateway.listen(0);
    const res = await fetch(`${url}/v1/health`, { headers: { authorization: 'Bearer tl_whatever-key-0000000000000000000000000000' } });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('key_store_unavailable');
    expect(body.error.message).not.toContain('s3cret-pw');
  });

  it('keys --help names --ledger and says --store is accepted for the same flags everywhere', async () => {
    const { code, stdout } = await runCli(['keys', '--help'], { cwd: tempDir() });
    expect(code).toBe(0);
    expect(stdout).toContain('--ledger');
    expect(stdout).toContain('TOKENLAY_LEDGER');
    expect(stdout).toMatch(/--store[\s\S]*same flags/);
  });
  it('says at start that a keys file is not used once keys live in a postgres:// ledger', async () => {
    const ledger = `${POSTGRES_URL}?schema=${schemaName()}`;
    const { stream, log } = captureLog();
    const gateway = createGateway({ store: 'memory', ledger, keys: join(tempDir(), 'keys.db'), logger: createLogger({ destination: stream }) });
    onCleanup(() => gateway.close());
    const line = log.lines().find((l) => l.level === 40);
    expect(line?.msg).toMatch(/the keys file is not used: with a postgres:\/\/ ledger, keys live in the ledger database; create them with tokenlay keys create --ledger/);
    expect(line?.keys).toMatch(/keys\.db$/);
  });
});
