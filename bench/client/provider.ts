/** The provider stand-in in its own process, answering like a Tokenlay proxy (report headers, SSE trailer). */
import { serveParent } from '../lib/child.js';
import { startProvider } from '../../test/support/provider.js';

startProvider({ proxyAnswers: true }).then((provider) =>
  serveParent(provider.url, {
    // Forgets what it recorded, so memory stays flat across rounds.
    reset: () => (provider.reset(), {}),
  }),
);
