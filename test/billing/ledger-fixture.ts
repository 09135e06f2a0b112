import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPricer } from '../../src/metering/prices.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import type { LedgerRow } from '../../src/store/types.js';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const pricer = createPricer();

/** The customers file: user → Stripe customer id (dave has none). */
export const CUSTOMERS = { alice: 'cus_Alice0001', bob: 'cus_Bob0002', carol: 'cus_Carol0003' };
export const PLAN_OF: Record<string, string> = { alice: 'pro', bob: 'free', carol: 'enterprise', dave: 'pro' };
/** The rules file's markups. */
export const RULES_YAML = `version: '0.1'
rules: []
plans:
  pro: { price: 20, markup: 1.3 }
  free: { price: 0 }
  enterprise: { price: 500, markup: 1.15 }
`;

function call(time: number, user: string, model: string, input: number, output: number, extra: Partial<LedgerRow> = {}): LedgerRow {
  const cost = pricer.price(model, { inputTokens: input, outputTokens: output, cachedTokens: 0 }).cost;
  return {
    time,
    fields: { user, org: `${user}-org`, plan: PLAN_OF[user]! },
    modelRequested: model,
    modelUsed: model,
    endpoint: '/v1/chat/completions',
    inputTokens: input,
    outputTokens: output,
    cachedTokens: 0,
    cost,
    ruleId: null,
    action: 'allow',
    status: 200,
    latencyMs: 40,
    estimated: false,
    ...extra,
  };
}

/**
 * A ledger of `n` answered calls by alice, bob and carol over the last hours, plus one call a rule
 * refused, one stream the caller cancelled (billed), one call of a model with no price (held back)
 * and one call by dave, who has no customer (held back).
 */
export function fixtureRows(n: number, now = Date.now()): LedgerRow[] {
  const users = ['alice', 'bob', 'carol'];
  const rows: LedgerRow[] = [];
  for (let i = 0; i < n; i++) rows.push(call(now - (n - i) * 60_000, users[i % 3]!, i % 2 ? 'gpt-4o' : 'gpt-4o-mini', 100 + 7 * i, 20 + 3 * i));
  rows.splice(3, 0, { ...call(now - 3_600_000, 'bob', 'gpt-4o-mini', 0, 0), cost: 0, modelUsed: null, action: 'block', status: 429, ruleId: 'free-tier' });
  rows.splice(6, 0, call(now - 3_500_000, 'alice', 'gpt-4o', 300, 41, { status: 499 }));
  rows.splice(9, 0, { ...call(now - 3_400_000, 'carol', 'gpt-4o', 10, 10), modelRequested: 'acme-private-llm', modelUsed: 'acme-private-llm', cost: 0, inputTokens: 120, outputTokens: 30 });
  rows.splice(12, 0, call(now - 3_300_000, 'dave', 'gpt-4o-mini', 50, 10));
  return rows;
}

/** Writes rows to a new SQLite ledger, with the customers and rules files beside it. */
export async function writeLedger(dir: string, rows: LedgerRow[]): Promise<{ db: string; customers: string; rules: string }> {
  const db = join(dir, 'usage.db');
  const store = createSqliteStore({ path: db });
  for (const r of rows) store.record(r);
  await store.close();
  const customers = join(dir, 'customers.json');
  writeFileSync(customers, JSON.stringify(CUSTOMERS));
  const rules = join(dir, 'rules.yaml');
  writeFileSync(rules, RULES_YAML);
  return { db, customers, rules };
}

export interface Cli {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | string>;
}

/** `tokenlay …` from source in a child process, as a user runs it (killable, unlike execFile's promise). */
export function startCli(args: string[], env: Record<string, string | undefined> = {}): Cli {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: { ...process.env, TOKENLAY_STORE: '', TOKENLAY_RULES: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (t: string) => (out += t));
  child.stderr!.setEncoding('utf8').on('data', (t: string) => (out += t));
  const exited = new Promise<number | string>((resolve) => child.once('close', (code, signal) => resolve(code ?? signal ?? -1)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  void exited.then(() => clearTimeout(killer));
  return { child, output: () => out, exited };
}

/** Runs `tokenlay …` to its end. */
export async function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number | string; output: string }> {
  const cli = startCli(args, env);
  const code = await cli.exited;
  return { code, output: cli.output() };
}
