import { expect, it } from 'vitest';
import * as byName from 'tokenlay';
import { tokenlay as byNameExpress } from 'tokenlay/express';
import * as bySource from '../../src/index.js';
import { tokenlay as bySourceExpress } from '../../adapters/express.js';

it('resolves the public package names to the same modules as the sources in tests', () => {
  expect(byName.TokenlayOpenAI).toBe(bySource.TokenlayOpenAI);
  expect(byNameExpress).toBe(bySourceExpress);
});
