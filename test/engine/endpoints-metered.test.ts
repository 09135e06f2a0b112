/**
 * Every endpoint that reports usage is metered through the embedded engine with the real OpenAI
 * SDK (images, transcription by tokens or seconds, chat served by another model); one that
 * reports none is metered at $0, flagged estimated, with the documented warning.
 */
import { calcPrice } from '@pydantic/genai-prices';
import { toFile } from 'openai';
import { describe, expect, it } from 'vitest';
import { UNMETERED_WARNING } from '../../src/engine/meter.js';
import { rig, warningsHeader } from './support.js';

const ok = (body: unknown) => () => ({ kind: 'status' as const, status: 200, body });
const audio = () => toFile(Buffer.from('RIFF....WAVEfmt '), 'hello.wav', { type: 'audio/wav' });

async function lastRow(fetch: Awaited<ReturnType<typeof rig>>['fetch']) {
  await fetch.engine.flush();
  const rows = await fetch.engine.store.ledger();
  return rows[rows.length - 1]!;
}

function expectTruth(cost: number, usage: Record<string, number>, model: string): void {
  const truth = calcPrice(usage, model, { providerId: 'openai' })!.total_price;
  expect(truth).toBeGreaterThan(0);
  expect(Math.abs(cost - truth)).toBeLessThanOrEqual(truth * 0.001);
}

describe('every endpoint that reports usage is metered', () => {
  it('prices the model that answered: OpenRouter asked anthropic/claude-3.5-sonnet, served openai/gpt-4o-mini ($0.0002202, not $0.005196)', async () => {
    const body = {
      id: 'gen-1', object: 'chat.completion', created: 0, model: 'openai/gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hi.' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 412, completion_tokens: 264, total_tokens: 676 },
    };
    const { openai, fetch } = await rig({ store: 'memory' }, { behavior: ok(body) });
    const { response } = await openai.chat.completions.create({ model: 'anthropic/claude-3.5-sonnet', messages: [{ role: 'user', content: 'Hi' }] }).withResponse();
    expect(Number(response.headers.get('x-tokenlay-cost'))).toBeCloseTo(0.0002202, 9);
    expect(await lastRow(fetch)).toMatchObject({ modelRequested: 'anthropic/claude-3.5-sonnet', modelUsed: 'openai/gpt-4o-mini' });
  });

  it("meters gpt-image-1's token usage, image input at its own rate", async () => {
    const usage = { total_tokens: 4410, input_tokens: 250, output_tokens: 4160, input_tokens_details: { text_tokens: 50, image_tokens: 200 } };
    const { openai, fetch } = await rig({ store: 'memory' }, { behavior: ok({ created: 0, data: [{ b64_json: 'AAAA' }], usage }) });
    await openai.images.generate({ model: 'gpt-image-1', prompt: 'A lighthouse at dawn' });
    const row = await lastRow(fetch);
    expect(row).toMatchObject({ endpoint: '/v1/images/generations', inputTokens: 250, outputTokens: 4160, estimated: false });
    expectTruth(row.cost, { input_tokens: 250, input_image_tokens: 200, output_tokens: 4160 }, 'gpt-image-1');
  });

  it('meters a transcription by its tokens (audio input at the audio rate), the model read from the form', async () => {
    const usage = { type: 'tokens', input_tokens: 1200, input_token_details: { text_tokens: 0, audio_tokens: 1200 }, output_tokens: 40, total_tokens: 1240 };
    const { openai, fetch } = await rig({ store: 'memory' }, { behavior: ok({ text: 'Hello.', usage }) });
    await openai.audio.transcriptions.create({ file: await audio(), model: 'gpt-4o-transcribe' });
    const row = await lastRow(fetch);
    expect(row).toMatchObject({ endpoint: '/v1/audio/transcriptions', modelRequested: 'gpt-4o-transcribe', inputTokens: 1200, outputTokens: 40, estimated: false });
    expectTruth(row.cost, { input_tokens: 1200, input_audio_tokens: 1200, output_tokens: 40 }, 'gpt-4o-transcribe');
  });

  it('meters a whisper-1 transcription by its seconds', async () => {
    const { openai, fetch } = await rig({ store: 'memory' }, { behavior: ok({ text: 'Hello.', usage: { type: 'duration', seconds: 95 } }) });
    await openai.audio.transcriptions.create({ file: await audio(), model: 'whisper-1' });
    const row = await lastRow(fetch);
    expect(row).toMatchObject({ modelRequested: 'whisper-1', estimated: false });
    expectTruth(row.cost, { audio_seconds: 95, input_audio_seconds: 95 }, 'whisper-1');
  });

  it('meters at $0, flagged estimated, with the documented warning, a multipart call whose answer reports no usage', async () => {
    const { openai, fetch } = await rig({ store: 'memory' }, { behavior: ok({ text: 'Hello.' }) });
    const { response } = await openai.audio.transcriptions.create({ file: await audio(), model: 'gpt-4o-transcribe' }).withResponse();
    expect(warningsHeader(response)).toEqual([UNMETERED_WARNING]);
    expect(await lastRow(fetch)).toMatchObject({ modelRequested: 'gpt-4o-transcribe', cost: 0, estimated: true });
  });

  it('passes an audio answer (text to speech) through byte for byte, estimated from the request and flagged', async () => {
    const mp3 = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7) % 256); // every byte value, most not UTF-8
    const { openai, fetch } = await rig({ store: 'memory' }, { behavior: () => ({ kind: 'bytes', contentType: 'audio/mpeg', body: mp3 }) });
    const { data, response } = await openai.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'The quarterly report shows steady growth.' }).withResponse();
    expect(new Uint8Array(await data.arrayBuffer())).toEqual(mp3);
    expect(warningsHeader(response)).toContain('usage estimated: the provider reported none');
    const row = await lastRow(fetch);
    expect(row).toMatchObject({ endpoint: '/v1/audio/speech', modelRequested: 'gpt-4o-mini-tts', estimated: true });
    expect(row.inputTokens).toBeGreaterThan(0);
  });
});
