/**
 * The plans, as a rules object rather than a file: a bundled and deployed Next.js app has no
 * rules file beside it unless you ship one. Same format as a tokenlay.rules.yaml (docs/rules.md).
 */
export const rules = {
  version: '0.1',
  rules: [
    {
      id: 'free-tier',
      if: { plan: 'free' },
      then: {
        model: 'gpt-4o-mini', // calls name no model: each plan's rule picks it
        limits: [{ type: 'requests', max: 3, window: 'day', per: 'user' }],
        on_limit_exceeded: { action: 'block', error_message: 'The free plan allows 3 answers a day; upgrade to pro for more.' },
      },
    },
    {
      id: 'pro-tier',
      if: { plan: 'pro' },
      then: {
        model: 'gpt-4o',
        limits: [{ type: 'tokens', max: 200_000, window: 'month', per: 'user' }],
      },
    },
  ],
};
