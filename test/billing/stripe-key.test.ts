/**
 * `tokenlay billing push --to stripe` with a STRIPE_API_KEY the user can fix: a key pasted with a
 * trailing carriage return or newline (a .env file saved with CRLF) is named as such at once, not
 * retried for a minute as "Stripe could not be reached"; a short wrong key is never shown.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startStripeStandIn, type StripeStandIn } from '../support/stripe.js';
import { useTempDirs } from '../store/temp-dir.js';
import { fixtureRows, runCli, writeLedger } from './ledger-fixture.js';

const KEY = 'sk_test_51TokenlayStandInKey0000000000000000';
const tempDir = useTempDirs();
let standIn: StripeStandIn | undefined;
afterEach(async () => {
  await standIn?.close();
  standIn = undefined;
});

describe('tokenlay billing push --to stripe: STRIPE_API_KEY', () => {
  it('names a key with whitespace in it (a trailing \\r from a CRLF .env file) and sends nothing', async () => {
    const files = await writeLedger(tempDir(), fixtureRows(3));
    standIn = await startStripeStandIn(KEY);
    const started = Date.now();
    const run = await runCli(['billing', 'push', '--to', 'stripe', '--store', `sqlite:${files.db}`, '--customers', files.customers], { STRIPE_API_KEY: `${KEY}\r`, TOKENLAY_STRIPE_API_BASE: standIn.url });
    expect(run.code).toBe(1);
    expect(run.output).toMatch(/STRIPE_API_KEY has whitespace in it/);
    expect(run.output).not.toMatch(/could not be reached/);
    expect(run.output).not.toContain(KEY);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(standIn.requests).toHaveLength(0);
  }, 60_000);

  it('never shows a short wrong key that Stripe echoes in its answer', async () => {
    const files = await writeLedger(tempDir(), fixtureRows(3));
    standIn = await startStripeStandIn(KEY);
    const wrong = 'sk_x9Q';
    const run = await runCli(['billing', 'push', '--to', 'stripe', '--store', `sqlite:${files.db}`, '--customers', files.customers], { STRIPE_API_KEY: wrong, TOKENLAY_STRIPE_API_BASE: standIn.url });
    expect(run.code).toBe(1);
    expect(run.output).toMatch(/Stripe refused the API key in STRIPE_API_KEY \(401/);
    expect(run.output).not.toContain(wrong);
  }, 60_000);
});

describe('tokenlay billing push --to stripe: the API address', () => {
  it('says which address could not be reached, so a wrong --stripe-api-base can be fixed', async () => {
    const files = await writeLedger(tempDir(), fixtureRows(1));
    const closed = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const base = `http://127.0.0.1:${closed}`;
    const run = await runCli(['billing', 'push', '--to', 'stripe', '--store', `sqlite:${files.db}`, '--customers', files.customers, '--stripe-api-base', base], { STRIPE_API_KEY: KEY });
    expect(run.code).toBe(1);
    expect(run.output).toContain(`Stripe at ${base} could not be reached`);
    expect(run.output).toContain('--stripe-api-base');
    expect(run.output).not.toContain(KEY);
  }, 90_000);
});
