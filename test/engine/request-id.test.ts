import { describe, expect, it } from 'vitest';
import { as, hello, rig } from './support.js';

describe('the request id of an engine answer', () => {
  it("passes the provider's x-request-id through, so the SDK's _request_id is the provider's", async () => {
    const { openai } = await rig({ store: 'memory' }, { requestIds: true });
    const completion = await openai.chat.completions.create(hello, as({ user: 'ana' }));
    expect(completion._request_id).toMatch(/^req_\d+$/);
  });

  it('gives a JSON and a streamed answer a tokenlay-<uuid> id when the provider sent none, a different one per call', async () => {
    const { openai } = await rig({ store: 'memory' });
    const first = await openai.chat.completions.create(hello, as({ user: 'ana' }));
    const second = await openai.chat.completions.create(hello, as({ user: 'ana' }));
    const uuid = /^tokenlay-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    expect(first._request_id).toMatch(uuid);
    expect(second._request_id).toMatch(uuid);
    expect(second._request_id).not.toBe(first._request_id);
    const { response } = await openai.chat.completions.create({ ...hello, stream: true }, as({ user: 'ana' })).withResponse();
    expect(response.headers.get('x-request-id')).toMatch(uuid);
    await response.body?.cancel();
  });
});
