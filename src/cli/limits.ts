/** `tokenlay limits`: set, list and clear limits at run time, without editing the rules file. */
import type { Flag } from './flags.js';
import { flagHelp, readAction } from './flags.js';
import { cliUser, errorMessage, SOURCE_FLAGS, sourceOf, type Source } from './overrides-source.js';

const FLAGS: Flag[] = [
  { name: 'user', value: 'NAME', help: 'the user whose limit changes (or --org, --plan)' },
  { name: 'org', value: 'NAME', help: 'the org whose limit changes' },
  { name: 'plan', value: 'NAME', help: 'the plan whose limit changes' },
  { name: 'type', value: 'TYPE', help: 'requests, tokens, cost (USD) or concurrent' },
  { name: 'max', value: 'N', help: 'the new limit: requests, tokens, calls in flight, or USD for cost (set)' },
  { name: 'window', value: 'WINDOW', help: 'minute, hour, day, month, year, total, or rolling: last_24h, last_30d (set; concurrent needs none)' },
  { name: 'until', value: 'DATE', help: 'when the override ends: 2027-01-31 (the end of that day, UTC) or an ISO time (set; default: until cleared)' },
  { name: 'note', value: 'TEXT', help: 'why, kept with the override and in the audit list (set)' },
  { name: 'json', help: 'print JSON (list)' },
  ...SOURCE_FLAGS,
];

export const HELP = flagHelp(
  'Usage: tokenlay limits set --user alice --type cost --max 50 --window month [--until 2027-01-31] [--note TEXT]\n' +
    '         (or --org NAME, --plan NAME) replaces the rules file\'s limit of that type for\n' +
    '         them; every app and gateway on the store applies it within 1 s\n' +
    '       tokenlay limits list [--json]\n' +
    '         the overrides, then who changed what and when\n' +
    '       tokenlay limits clear --user alice --type cost',
  FLAGS,
);

function when(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** An end as given: `--until 2027-01-31` ends at the day's end, shown as that day, not as 2027-02-01T00:00:00Z. */
function endOf(ms: number): string {
  return ms % 86_400_000 === 0 ? `end of ${new Date(ms - 1).toISOString().slice(0, 10)}` : when(ms);
}

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
}

export async function run(argv: string[]): Promise<number> {
  const read = readAction('limits', argv, FLAGS, HELP, ['set', 'list', 'clear']);
  if (typeof read === 'number') return read;
  const { parsed, action } = read;
  const v = parsed.values as Record<string, string | undefined>;
  const { openOverrideStore } = await import('../store/overrides-open.js');
  const { liveOverrides } = await import('../engine/overrides.js');
  const { limitsApi, overrideJson, changeJson } = await import('../engine/limits-api.js');
  let store: Awaited<ReturnType<typeof openOverrideStore>> | undefined;
  let live: ReturnType<typeof liveOverrides> | undefined;
  let source: Source | undefined;
  try {
    source = sourceOf('limits', parsed.values);
    store = openOverrideStore(source);
    live = liveOverrides(store, 60_000);
    const limits = limitsApi(live, Date.now, v.account ?? '');
    const target = { ...(v.user === undefined ? {} : { user: v.user }), ...(v.org === undefined ? {} : { org: v.org }), ...(v.plan === undefined ? {} : { plan: v.plan }) };
    if (action === 'set') {
      if (v.max === undefined) throw new Error('tokenlay limits: set needs --max N (requests, tokens, calls in flight, or USD for cost), e.g. --max 50.');
      const o = await limits.set({ ...target, type: v.type as string, max: v.max as unknown as number, ...(v.window === undefined ? {} : { window: v.window }), until: v.until ?? null, note: v.note ?? null, by: cliUser() });
      const amount = o.type === 'cost' ? `$${o.max}` : `${o.max} ${o.type}`;
      console.log(
        `Set ${o.target} ${o.value}'s ${o.type} limit to ${amount}${o.type === 'concurrent' ? '' : ` per ${o.window}`}${o.until === null ? '' : ` until ${o.until % 86_400_000 === 0 ? `the ${endOf(o.until)} (UTC)` : when(o.until)}`}${o.account === '' ? '' : ` in account ${o.account}`}, in ${source.where}. Every app and gateway on it applies it within 1 s.`,
      );
      return 0;
    }
    if (action === 'clear') {
      const key = { ...target, type: v.type as string, by: cliUser() };
      if (!(await limits.clear(key))) {
        console.error(`tokenlay limits: no override of ${JSON.stringify(v.type)} for ${Object.entries(target).map(([k, x]) => `${k} ${x}`).join('') || 'that target'} in ${source.where}. See them with: tokenlay limits list`);
        return 1;
      }
      console.log(`Cleared the ${v.type} override of ${Object.entries(target).map(([k, x]) => `${k} ${x}`).join('')}; the rules file's limit applies again within 1 s.`);
      return 0;
    }
    const list = await limits.list();
    const changes = await limits.audit({ limit: 20 });
    if (v.json !== undefined) {
      console.log(JSON.stringify({ limits: list.map(overrideJson), changes: changes.map(changeJson) }, null, 2));
      return 0;
    }
    if (list.length === 0) console.log(`No overrides in ${source.where}. Set one with: tokenlay limits set --user alice --type cost --max 50 --window month`);
    else {
      const now = Date.now();
      printTable([
        ['TARGET', 'TYPE', 'MAX', 'WINDOW', 'UNTIL', 'ACCOUNT', 'SET BY', 'SET AT', 'NOTE'],
        ...list.map((o) => [
          `${o.target}=${o.value}`,
          o.type,
          o.type === 'cost' ? `$${o.max}` : String(o.max),
          o.window,
          o.until === null ? '-' : `${endOf(o.until)}${o.until <= now ? ' (ended)' : ''}`,
          o.account || '(all)',
          o.setBy,
          when(o.setAt),
          o.note ?? '',
        ]),
      ]);
    }
    if (changes.length > 0) {
      console.log('\nChanges, newest first:');
      printTable(changes.map((c) => [when(c.time), c.by, c.action, `${c.target}=${c.value}`, c.type, c.action === 'credit' ? `+$${c.usd}` : c.max === undefined ? '' : c.type === 'cost' ? `$${c.max}` : String(c.max), c.window ?? '', c.account || '(all)']));
    }
    return 0;
  } catch (err) {
    console.error(errorMessage('limits', source, err));
    return 1;
  } finally {
    live?.close();
    await store?.close();
  }
}
