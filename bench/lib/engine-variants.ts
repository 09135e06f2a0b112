/**
 * The working tree's engine with one feature taken out, bundled like the ESM build, to measure
 * what that feature costs per call beside the tree itself in one run (bench/engine-ab.ts,
 * `AB_VARIANTS=`). Each variant is a list of exact source edits; one that no longer applies
 * (the source moved on) stops the bench with the edit that failed, rather than measuring
 * something else.
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeAtExit } from './engine-calls.js';

type Edit = [file: string, from: string, to: string];

export const VARIANTS: Record<string, { what: string; edits: Edit[] }> = {
  'no-clamp-no-integer-money': {
    what: 'no clamp (one reservation, no output limits per model) and money as float USD (no unit conversion)',
    edits: [
      ['store/money.ts', '  if (usd === Infinity || usd === -Infinity) return usd;\n  const units', '  return usd;\n  const units'],
      ['store/money.ts', '  return Number.isFinite(usd) ? Math.round(usd * COST_UNITS_PER_USD) : usd;', '  return usd;'],
      ['store/money.ts', '  return Number(units) / COST_UNITS_PER_USD;', '  return Number(units);'],
      ['store/money.ts', '  return Number.isFinite(usd) ? usdOf(costUnits(usd)) : usd;', '  return usd;'],
      ['store/units.ts', "  if (check.metric !== 'cost') return check;", '  return check;'],
      ['store/units.ts', '  return { requests: actual.requests, tokens: actual.tokens, cost: costUnits(actual.cost) };', '  return actual;'],
      ['engine/admission.ts', '    if (result.ok || tries >= CLAMP_TRIES || !estimate.within) return { result, estimate, clamp };', '    if (result.ok || tries >= 0) return { result, estimate, clamp };'],
      [
        'engine/reservation.ts',
        '  const shapes = models.map((model) => ({ model, shape: callShape(model, bodyFor(state, model), ctx.pricer, opts) }));',
        `  const shapes = models.map((model) => ({ model, shape: callShape(model, bodyFor(state, model), ctx.pricer, opts) }));
  const e: Estimate = { tokens: 0, cost: 0 };
  for (const { model, shape } of shapes) {
    const r = pricedShape(model, shape, shape.perChoice, ctx.pricer, opts);
    e.tokens = Math.max(e.tokens, r.tokens);
    e.cost = Math.max(e.cost, r.cost);
    e.inputTokens = Math.max(e.inputTokens ?? 0, r.inputTokens);
  }
  if (shapes.length > 0) return e;`,
      ],
    ],
  },
  'no-lost-holder': {
    what: "no lost-holder guarantee: no row kept with the reservation, no sweep of leases that ran out",
    edits: [
      ['store/sqlite.ts', 'const lostText = lost ? JSON.stringify(lost) : null;', 'const lostText = null;'],
      ['store/sqlite.ts', '    sweep(now);\n    for (let index', '    for (let index'],
      ['store/sqlite.ts', '    if (now !== undefined) chargeLost(now, id);\n', ''],
    ],
  },
  'no-budget-header': {
    what: 'no x-tokenlay-budget-remaining: the settlement gives no counters back and the answer reads none',
    edits: [
      ['engine/settle.ts', 'counters = (await store.settleWithRow(reservation, actual, row, ctx.now())) ?? undefined;', 'counters = (await store.settleWithRow(reservation, actual, row)) ?? undefined;'],
      [
        'engine/deliver.ts',
        '    if (await settledOrLater(settleBilled(sent, sent.statusOf(answer.status), metered))) {\n      const reading = budgetLeft(sent);\n      if (reading) await reading;\n    }',
        '    await settledOrLater(settleBilled(sent, sent.statusOf(answer.status), metered));',
      ],
    ],
  },
};

/** A copy of `srcDir` with variant `name`'s edits applied; returns the copy's engine entry. */
export function variantSources(srcDir: string, name: string): string {
  const variant = VARIANTS[name];
  if (!variant) throw new Error(`bench: no engine variant "${name}"; known: ${Object.keys(VARIANTS).join(', ')}`);
  const dir = mkdtempSync(join(tmpdir(), `tokenlay-variant-${name}-`));
  cpSync(srcDir, join(dir, 'src'), { recursive: true });
  removeAtExit(dir);
  for (const [file, from, to] of variant.edits) {
    const path = join(dir, 'src', file);
    const text = readFileSync(path, 'utf8');
    if (!text.includes(from)) throw new Error(`bench: variant "${name}" no longer applies to src/${file}: ${JSON.stringify(from.slice(0, 80))} is not there`);
    writeFileSync(path, text.replace(from, to));
  }
  return join(dir, 'src', 'engine', 'index.ts');
}
