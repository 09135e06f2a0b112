/**
 * The provider stand-in in its own process, answering like a Tokenlay proxy: report headers, the
 * SSE trailer, and an `x-request-id` on every answer, as OpenAI and `tokenlay gateway` send.
 */
import { serveParent } from '../lib/child.js';
import { startProvider } from '../../test/support/provider.js';

startProvider({ proxyAnswers: true, requestIds: true }).then((provider) =>
  serveParent(provider.url, {
    // Forgets what it recorded, so memory stays flat across rounds.
    reset: () => (provider.reset(), {}),
  }),
);
