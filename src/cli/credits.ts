/** `tokenlay credits`: prepaid balances per user or org, drawn down by `credits` limits. */
import type { Flag } from './flags.js';
import { flagHelp, readAction } from './flags.js';
import { cliUser, errorMessage, SOURCE_FLAGS, sourceOf, type Source } from './overrides-source.js';

const FLAGS: Flag[] = [
  { name: 'user', value: 'NAME', help: 'the user whose balance it is (or --org)' },
  { name: 'org', value: 'NAME', help: 'the org whose balance it is' },
  { name: 'usd', value: 'AMOUNT', help: 'USD to add (add)' },
  { name: 'note', value: 'TEXT', help: 'why, kept in the audit list (add)' },
  { name: 'json', help: 'print JSON' },
  ...SOURCE_FLAGS,
];

export const HELP = flagHelp(
  'Usage: tokenlay credits add --user alice --usd 10 [--note TEXT]\n' +
    '         (or --org NAME) adds to the balance a `type: credits` limit draws down;\n' +
    '         recorded in the ledger and the audit list\n' +
    '       tokenlay credits balance --user alice\n' +
    '       tokenlay credits list',
  FLAGS,
);

export async function run(argv: string[]): Promise<number> {
  const read = readAction('credits', argv, FLAGS, HELP, ['add', 'balance', 'list']);
  if (typeof read === 'number') return read;
  const { parsed, action } = read;
  const v = parsed.values as Record<string, string | undefined>;
  const { openOverrideStore } = await import('../store/overrides-open.js');
  const { liveOverrides } = await import('../engine/overrides.js');
  const { creditsApi } = await import('../engine/credits.js');
  const { createStore } = await import('../store/index.js');
  const { formatUsd, costUnits } = await import('../store/money.js');
  let overrides: ReturnType<typeof openOverrideStore> | undefined;
  let live: ReturnType<typeof liveOverrides> | undefined;
  let store: ReturnType<typeof createStore> | undefined;
  let source: Source | undefined;
  try {
    source = sourceOf('credits', parsed.values);
    overrides = openOverrideStore(source);
    live = liveOverrides(overrides, 60_000);
    // The counters tell what was used; the ledger takes the grant's row.
    store = createStore({ store: source.store, ...(source.ledger === undefined ? {} : { ledger: source.ledger }) });
    const credits = creditsApi(live, store, store, Date.now, v.account ?? '');
    const target = { ...(v.user === undefined ? {} : { user: v.user }), ...(v.org === undefined ? {} : { org: v.org }) };
    const usd = (n: number) => `$${formatUsd(costUnits(n))}`;
    const show = (b: Awaited<ReturnType<typeof credits.balance>>) =>
      `${b.target} ${b.value}${b.account === '' ? '' : ` (account ${b.account})`}: granted ${usd(b.granted)}, used ${usd(b.used)}${b.reserved > 0 ? `, held by calls in flight ${usd(b.reserved)}` : ''}, remaining ${usd(b.remaining)}`;
    if (action === 'add') {
      if (v.usd === undefined) throw new Error('tokenlay credits: add needs --usd AMOUNT, e.g. --usd 10.');
      const b = await credits.add({ ...target, usd: v.usd, note: v.note ?? null, by: cliUser() });
      await store.flush();
      if (v.json !== undefined) console.log(JSON.stringify(b, null, 2));
      else console.log(`Added ${usd(Number(v.usd))} to the credits of ${show(b)}. In ${source.where}; every app and gateway on it uses it within 1 s.`);
      return 0;
    }
    if (action === 'balance') {
      const b = await credits.balance(target);
      console.log(v.json !== undefined ? JSON.stringify(b, null, 2) : show(b));
      return 0;
    }
    const all = await credits.list();
    if (v.json !== undefined) console.log(JSON.stringify(all, null, 2));
    else if (all.length === 0) console.log(`No credits in ${source.where}. Add some with: tokenlay credits add --user alice --usd 10`);
    else for (const b of all) console.log(show(b));
    return 0;
  } catch (err) {
    console.error(errorMessage('credits', source, err));
    return 1;
  } finally {
    live?.close();
    await overrides?.close();
    await store?.close();
  }
}
