/** `tokenlay gateway --billing stripe`: the gateway pushes each settled call to Stripe while it serves. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../support/gate.js';
import { startProvider, type Provider } from '../support/provider.js';
import { startStripeStandIn, type StripeStandIn } from '../support/stripe.js';
import { startCloudEventsReceiver } from '../support/cloudevents.js';
import { CHAT_BODY, createKey, gatewayCall, startGateway, type GatewayProcess } from '../store/gateway-process.js';

const KEY = 'sk_test_51GatewayBillingStandIn00000000000000';
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const done of cleanup.splice(0).reverse()) await done();
});

describe('tokenlay gateway --billing stripe', () => {
  it('sends each call it settles as one meter event, and after a kill -9 and a restart sends none twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenlay-gateway-billing-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const provider: Provider = await startProvider();
    cleanup.push(() => provider.close());
    const stripe: StripeStandIn = await startStripeStandIn(KEY);
    cleanup.push(() => stripe.close());
    const key = await createKey(dir, 'acme', 'sqlite:./.tokenlay/usage.db');
    const args = ['--allow-provider-base', provider.base, '--log-level', 'warn', '--billing', 'stripe', '--billing-interval', '200', '--billing-customer-field', 'org'];
    const env = { STRIPE_API_KEY: KEY, TOKENLAY_STRIPE_API_BASE: stripe.url };
    const start = async () => {
      const g = await startGateway(dir, args, env);
      cleanup.push(() => {
        if (g.exited() === null) g.proc.kill('SIGKILL');
      });
      return g;
    };
    const headers = { authorization: `Bearer ${key}`, 'x-tokenlay-provider-key': 'sk-provider', 'x-tokenlay-provider-base': provider.base, 'x-tokenlay-org': 'cus_Acme0001', 'x-tokenlay-user': 'u1' };
    let gateway: GatewayProcess = await start();
    for (let i = 0; i < 5; i++) expect(await gatewayCall(gateway.url, headers, CHAT_BODY)).toBe(200);
    await eventually(() => stripe.events.length === 5, 'five meter events', 20_000);
    gateway.proc.kill('SIGKILL');
    await new Promise((r) => gateway.proc.once('exit', r));

    gateway = await start();
    for (let i = 0; i < 2; i++) expect(await gatewayCall(gateway.url, headers, CHAT_BODY)).toBe(200);
    await eventually(() => stripe.events.length === 7, 'two more meter events', 20_000);
    expect(new Set(stripe.events.map((e) => e.identifier)).size).toBe(7);
    for (const e of stripe.events) {
      expect(e.payload.stripe_customer_id).toBe('cus_Acme0001');
      expect(Number(e.payload.value)).toBeGreaterThan(0);
    }
    await gateway.stop();
    expect(gateway.out()).not.toContain(KEY);
  }, 90_000);

  it('refuses to start with --billing stripe and no STRIPE_API_KEY, saying what to set', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenlay-gateway-billing-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    await expect(startGateway(dir, ['--billing', 'stripe'], { STRIPE_API_KEY: '' })).rejects.toThrow(/needs a secret key in env STRIPE_API_KEY/);
    await expect(startGateway(dir, ['--billing', 'lago'])).rejects.toThrow(/--billing \(or TOKENLAY_BILLING\) must be stripe, cloudevents or off; got "lago"/);
  }, 60_000);

  it('refuses --billing cloudevents with no URL, naming the gateway flag --billing-url (the gateway has no --to)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenlay-gateway-billing-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const refused = startGateway(dir, ['--billing', 'cloudevents'], { TOKENLAY_BILLING_URL: '' });
    await expect(refused).rejects.toThrow(/--billing cloudevents needs the URL events are POSTed to: --billing-url \(or TOKENLAY_BILLING_URL\)/);
    await expect(refused).rejects.not.toThrow(/--to/);
  }, 60_000);

  it('names --billing-customers, the gateway flag, when the customers file cannot be read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenlay-gateway-billing-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const refused = startGateway(dir, ['--billing', 'stripe', '--billing-customers', join(dir, 'nope.json')], { STRIPE_API_KEY: KEY });
    await expect(refused).rejects.toThrow(/cannot read the customers file .*nope\.json" \(ENOENT\); give --billing-customers a JSON file/);
  }, 60_000);

  it('takes the URL after --billing cloudevents, as billing push takes it after --to cloudevents', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenlay-gateway-billing-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const provider: Provider = await startProvider();
    cleanup.push(() => provider.close());
    const receiver = await startCloudEventsReceiver();
    cleanup.push(() => receiver.close());
    const key = await createKey(dir, 'acme', 'sqlite:./.tokenlay/usage.db');
    const gateway = await startGateway(dir, ['--allow-provider-base', provider.base, '--log-level', 'warn', '--billing', 'cloudevents', receiver.url, '--billing-interval', '200', '--billing-customer-field', 'org'], { TOKENLAY_BILLING_URL: '' });
    cleanup.push(() => {
      if (gateway.exited() === null) gateway.proc.kill('SIGKILL');
    });
    const headers = { authorization: `Bearer ${key}`, 'x-tokenlay-provider-key': 'sk-provider', 'x-tokenlay-provider-base': provider.base, 'x-tokenlay-org': 'acme-corp', 'x-tokenlay-user': 'u1' };
    for (let i = 0; i < 2; i++) expect(await gatewayCall(gateway.url, headers, CHAT_BODY)).toBe(200);
    await eventually(() => receiver.events.length === 2, 'two CloudEvents', 20_000);
    expect(receiver.events.map((e) => e.subject)).toEqual(['acme-corp', 'acme-corp']);
    await gateway.stop();
    // A second URL is still refused: the gateway takes one destination.
    await expect(startGateway(dir, ['--billing', 'cloudevents', receiver.url, 'http://127.0.0.1:1/other'], {})).rejects.toThrow(/unexpected argument "http:\/\/127.0.0.1:1\/other"/);
  }, 60_000);
});
