import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const fixture = fileURLToPath(new URL('./fixtures/stalled-delivery.ts', import.meta.url));

it('gives up on a receiver that never answers after its timeout, even while the garbage collector runs', async () => {
  // Before: the try's timeout was an AbortSignal.timeout() inside AbortSignal.any(), which the
  // collector could take before it fired; the delivery then waited forever.
  const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', fixture], { timeout: 20_000 });
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { failure: string; ms: number };
  expect(result.failure).toBe('no answer in 200 ms');
  expect(result.ms).toBeLessThan(3000);
}, 30_000);
