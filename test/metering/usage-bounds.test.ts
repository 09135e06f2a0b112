import { describe, expect, it } from 'vitest';
import { usageFieldProblem } from '../../src/metering/usage-bounds.js';

describe('one check for every usage number of any provider shape', () => {
  it('finds the field no call can have, nested or not, and names it with its value', () => {
    expect(usageFieldProblem({ prompt_tokens: 10, completion_tokens: 1e308 })).toBe('usage.completion_tokens is 1e+308, not a token count (a whole number from 0)');
    expect(usageFieldProblem({ input_tokens: 5, output_tokens_details: { reasoning_tokens: -1 } })).toContain('usage.output_tokens_details.reasoning_tokens is -1');
    expect(usageFieldProblem({ promptTokenCount: 3, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 2.5 }] })).toContain('usage.promptTokensDetails[0].tokenCount is 2.5');
    expect(usageFieldProblem({ prompt_tokens: '12' })).toContain('usage.prompt_tokens is "12"');
    expect(usageFieldProblem({ type: 'duration', seconds: 1e308 })).toContain('usage.seconds is 1e+308, not a duration');
    expect(usageFieldProblem({ type: 'duration', seconds: -2 })).toContain('not a duration');
  });

  it('passes sound usage, nulls, and numbers that are not counts (cost, queue times, a fractional duration)', () => {
    expect(usageFieldProblem({ prompt_tokens: 10, completion_tokens: 5, prompt_tokens_details: null, cost: 0.00012, queue_time: 0.013 })).toBeUndefined();
    expect(usageFieldProblem({ type: 'duration', seconds: 3.25 })).toBeUndefined();
    expect(usageFieldProblem({ input_tokens: 10, cache_creation: { ephemeral_5m_input_tokens: 0 }, service_tier: 'standard' })).toBeUndefined();
  });
});
