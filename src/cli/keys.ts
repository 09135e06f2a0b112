/** `tokenlay keys`: create, list and revoke tokenlay keys; each key is an account. */
import type { KeyStore } from '../gateway/keys.js';
import type { Flag } from './flags.js';
import { flagHelp, readFlags } from './flags.js';

const FLAGS: Flag[] = [
  { name: 'name', value: 'NAME', help: 'the key\'s name, which is also its account (create)' },
  { name: 'admin', help: 'the new key may also change its account\'s limits and credits through /v1/admin/limits and /v1/admin/credits (create)' },
  { name: 'keys', value: 'FILE', env: 'TOKENLAY_KEYS_FILE', default: './.tokenlay/usage.db', help: 'SQLite file of the keys, as given to tokenlay gateway; ignored with a postgres:// --ledger' },
  { name: 'ledger', value: 'URL', env: 'TOKENLAY_LEDGER', default: 'none (keys in the --keys file)', help: 'as given to tokenlay gateway: with postgres://user:password@host:5432/db the keys live in that database, so every gateway using it knows every key' },
  { name: 'store', value: 'URL', env: 'TOKENLAY_STORE', default: 'none', help: 'accepted so that the same flags work on every command; keys never live in the counters store' },
];

export const HELP = flagHelp(
  'Usage: tokenlay keys create --name NAME [--admin]\n' +
    '         prints a new key as its last line (shown once)\n' +
    '       tokenlay keys list\n' +
    '         names, created, last used (never keys)\n' +
    '       tokenlay keys revoke NAME\n' +
    '         the key stops working at once (within 5 s on every gateway sharing a\n' +
    '         postgres:// --ledger)',
  FLAGS,
);

function when(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export async function run(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof readFlags>;
  try {
    parsed = readFlags('keys', argv, FLAGS);
  } catch (err) {
    console.error((err as Error).message);
    return 1;
  }
  const [action, ...rest] = parsed.positionals;
  if (parsed.help || action === 'help') {
    console.log(HELP);
    return 0;
  }
  if (action !== 'create' && action !== 'list' && action !== 'revoke') {
    console.error(`tokenlay keys: ${action === undefined ? 'say what to do' : `unknown action ${JSON.stringify(action)}`}: create, list or revoke.\n\n${HELP}`);
    return 1;
  }
  const ledger = parsed.values.ledger as string | undefined;
  const shared = ledger !== undefined && /^postgres(ql)?:\/\//i.test(ledger.trim());
  const { DEFAULT_KEYS_FILE } = await import('../gateway/defaults.js');
  const { redactUrl } = await import('../store/redact.js');
  const file = shared ? `the Postgres ledger ${redactUrl(ledger.trim())}` : ((parsed.values.keys as string | undefined) ?? DEFAULT_KEYS_FILE);
  let keys: KeyStore | undefined;
  let cacheSeconds = 0;
  try {
    if (shared) {
      const { createPostgresKeyStore, KEY_CACHE_MS } = await import('../gateway/keys-postgres.js');
      cacheSeconds = KEY_CACHE_MS / 1000;
      const store = createPostgresKeyStore({ url: ledger.trim() });
      keys = store;
      await store.ready();
    } else {
      const { createSqliteKeyStore } = await import('../gateway/keys-sqlite.js');
      keys = createSqliteKeyStore({ path: file });
    }
    if (action === 'create') {
      const name = (parsed.values.name as string | undefined) ?? rest[0];
      if (name === undefined) throw new Error('tokenlay keys create: name the key: tokenlay keys create --name NAME');
      const admin = parsed.values.admin === 'true';
      const key = await keys.create(name, { admin });
      console.log(`Created ${admin ? 'admin ' : ''}tokenlay key "${name}" in ${file}. It is shown only this once; store it as TOKENLAY_KEY:`);
      console.log(key);
      return 0;
    }
    if (action === 'list') {
      const rows = await keys.list();
      if (rows.length === 0) {
        console.log(`No keys in ${file}. Create one with: tokenlay keys create --name NAME`);
        return 0;
      }
      const status = (r: (typeof rows)[number]) => (r.revokedAt === null ? 'active' : `revoked ${when(r.revokedAt)}`) + (r.admin ? ' (admin)' : '');
      const table = [['NAME', 'CREATED', 'LAST USED', 'STATUS'], ...rows.map((r) => [r.name, when(r.createdAt), when(r.lastUsedAt), status(r)])];
      const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
      for (const row of table) console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
      return 0;
    }
    const name = rest[0] ?? (parsed.values.name as string | undefined);
    if (name === undefined) throw new Error('tokenlay keys revoke: name the key: tokenlay keys revoke NAME');
    if (!(await keys.revoke(name))) {
      console.error(`tokenlay keys revoke: no active key named ${JSON.stringify(name)} in ${file}. See them with: tokenlay keys list`);
      return 1;
    }
    console.log(
      shared
        ? `Revoked tokenlay key "${name}"; every gateway using this ledger refuses it within ${cacheSeconds} s.`
        : `Revoked tokenlay key "${name}"; calls with it are refused from now on.`,
    );
    return 0;
  } catch (err) {
    console.error((err as Error).message);
    return 1;
  } finally {
    await keys?.close();
  }
}
