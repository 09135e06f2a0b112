/**
 * The CloudEvents `data.cost_usd` is the ledger's cost as an exact decimal string, as `value` is:
 * a cost below 1e-6 USD must not be sent in exponent notation (`1.5e-7`), which a meter reading
 * the field as a decimal cannot take.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createPricer } from '../../src/metering/prices.js';
import { startCloudEventsReceiver, type CloudEventsReceiver } from '../support/cloudevents.js';
import { useTempDirs } from '../store/temp-dir.js';
import { fixtureRows, runCli, writeLedger } from './ledger-fixture.js';

const tempDir = useTempDirs();
let receiver: CloudEventsReceiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

describe('tokenlay billing push --to cloudevents URL: cost_usd', () => {
  it('sends a cost of 1.5e-7 USD as "0.00000015", never in exponent notation', async () => {
    const cost = createPricer().price('gpt-4o-mini', { inputTokens: 1, outputTokens: 0, cachedTokens: 0 }).cost;
    expect(String(cost)).toBe('1.5e-7');
    const [first] = fixtureRows(1);
    const rows = [{ ...first!, modelUsed: 'gpt-4o-mini', modelRequested: 'gpt-4o-mini', inputTokens: 1, outputTokens: 0, cost }];
    const files = await writeLedger(tempDir(), rows);
    receiver = await startCloudEventsReceiver();
    const run = await runCli(['billing', 'push', '--to', 'cloudevents', receiver.url, '--store', `sqlite:${files.db}`, '--customers', files.customers, '--rules', files.rules]);
    expect(run.code, run.output).toBe(0);
    expect(receiver.events).toHaveLength(1);
    const data = receiver.events[0]!.data as Record<string, unknown>;
    expect(data.cost_usd).toBe('0.00000015');
    expect(data.value).toBe('0.000000195');
  }, 60_000);
});
