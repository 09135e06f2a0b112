/**
 * `tokenlay billing push --to cloudevents URL` against a local receiver that ingests as OpenMeter
 * does (structured JSON, batches, dedup on source + id): exactly once across a kill -9 mid-batch.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteBillingLedger } from '../../src/billing/sqlite-ledger.js';
import { isBlocked } from '../../src/store/usage-breakdown.js';
import { eventually } from '../support/gate.js';
import { startCloudEventsReceiver, type CloudEventsReceiver } from '../support/cloudevents.js';
import { useTempDirs } from '../store/temp-dir.js';
import { fixtureRows, runCli, startCli, writeLedger } from './ledger-fixture.js';

const tempDir = useTempDirs();
let receiver: CloudEventsReceiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

describe('tokenlay billing push --to cloudevents URL', () => {
  it('sends every row exactly once, the ledger id as the event id, when the pusher is killed (kill -9) mid-batch and started again', async () => {
    const rows = fixtureRows(30);
    const files = await writeLedger(tempDir(), rows);
    receiver = await startCloudEventsReceiver('om_token_123');
    const args = ['billing', 'push', '--to', 'cloudevents', receiver.url, '--store', `sqlite:${files.db}`, '--customers', files.customers, '--rules', files.rules, '--batch', '10', '--event-name', 'prompt'];
    const env = { TOKENLAY_CLOUDEVENTS_TOKEN: 'om_token_123' };
    // The first batch is answered; the second is stored by the receiver, but its answer never comes.
    receiver.holdAfter(1);
    const first = startCli(args, env);
    await eventually(() => receiver!.held() === 1, 'the second batch to reach the receiver', 30_000);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    receiver.release();
    const afterKill = openSqliteBillingLedger(files.db);
    const ids = (await afterKill.rowsAfter(0, 1000)).map((r) => r.id);
    const destination = (await afterKill.destinations())[0]!;
    expect(destination).toBe(`cloudevents ${receiver.url}`);
    expect(await afterKill.cursor(destination)).toBe(10);
    await afterKill.close();

    const second = await runCli(args, env);
    expect(second.code).toBe(0);
    const expected = rows.map((r, i) => ({ r, id: ids[i]! })).filter(({ r }) => !isBlocked(r) && r.fields.user !== 'dave' && r.modelUsed !== 'acme-private-llm');
    // The second batch arrived twice; the receiver kept each event once.
    expect(receiver.received.length).toBeGreaterThan(receiver.events.length);
    const count = new Map<string, number>();
    for (const e of receiver.received) count.set(e.id, (count.get(e.id) ?? 0) + 1);
    expect(receiver.events.map((e) => e.id).sort()).toEqual(expected.map((e) => e.id).sort());
    expect(new Set(receiver.events.map((e) => e.id)).size).toBe(receiver.events.length);
    expect([...count.values()].filter((n) => n === 2).length).toBeGreaterThan(0);
    expect(new Set(receiver.contentTypes)).toEqual(new Set(['application/cloudevents-batch+json']));
    for (const { r, id } of expected) {
      const e = receiver.events.find((x) => x.id === id)!;
      expect(e).toMatchObject({ specversion: '1.0', source: 'tokenlay', type: 'prompt', time: new Date(r.time).toISOString() });
      expect(e.data).toMatchObject({ input_tokens: r.inputTokens, output_tokens: r.outputTokens, model: r.modelUsed, status: r.status });
    }
  }, 90_000);

  it('sends one application/cloudevents+json request per call in single mode, and stops on a refused token without moving the cursor', async () => {
    const rows = fixtureRows(3);
    const files = await writeLedger(tempDir(), rows);
    receiver = await startCloudEventsReceiver('right');
    const args = ['billing', 'push', '--to', 'cloudevents', receiver.url, '--store', `sqlite:${files.db}`, '--customers', files.customers, '--cloudevents-mode', 'single'];
    const refused = await runCli(args, { TOKENLAY_CLOUDEVENTS_TOKEN: 'wrong-secret-token' });
    expect(refused.code).toBe(1);
    expect(refused.output).toMatch(/refused the credentials \(401/);
    expect(refused.output).not.toContain('wrong-secret-token');
    expect(receiver.events).toHaveLength(0);
    const ok = await runCli(args, { TOKENLAY_CLOUDEVENTS_TOKEN: 'right' });
    expect(ok.code).toBe(0);
    expect(receiver.contentTypes.length).toBe(receiver.events.length);
    expect(new Set(receiver.contentTypes)).toEqual(new Set(['application/cloudevents+json']));
    const none = await runCli(['billing', 'push', '--to', 'cloudevents', '--store', `sqlite:${files.db}`]);
    expect(none.output).toMatch(/--to cloudevents needs the URL events are POSTed to/);
  }, 60_000);
});
