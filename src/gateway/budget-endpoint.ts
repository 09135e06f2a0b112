import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Engine } from '../engine/types.js';
import { headersToFields, parseRunBudgets, RUN_BUDGET_HEADER } from '../protocol/index.js';
import { callHeaders } from './call-headers.js';
import { sendError, sendJson } from './errors.js';

/**
 * `GET /v1/budget` (ext): what the user named by the request's attribution headers (as on a call,
 * docs/protocol.md §1) has left of each limit that applies, within the calling key's account:
 * `{"data": [{"rule_id": "free", "type": "cost", "window": "month", "max": 5, "used": 4.58,
 * "remaining": 0.42, "resets_at": "2026-12-01T00:00:00Z"}]}`; runs named in
 * `x-tokenlay-run-budget` are listed after, with `type: "run"` and their unit in `metric`.
 */
export async function answerBudget(req: IncomingMessage, res: ServerResponse, engine: Engine, account: string): Promise<void> {
  const headers = callHeaders(req.headers, account);
  const runs = parseRunBudgets(headers.get(RUN_BUDGET_HEADER));
  if ('problem' in runs) {
    return sendError(res, 400, { message: `tokenlay: ${RUN_BUDGET_HEADER} cannot be read: ${runs.problem}.`, type: 'invalid_request_error', code: 'invalid_run_budget', param: RUN_BUDGET_HEADER });
  }
  const fields: Record<string, string> = {};
  for (const [name, value] of Object.entries(headersToFields(headers, { bare: true }))) if (value !== undefined) fields[name] = value;
  const limits = await engine.budget(fields, runs.runs);
  sendJson(res, 200, {
    data: limits.map((l) => ({
      rule_id: l.ruleId,
      type: l.type,
      ...(l.metric !== undefined ? { metric: l.metric } : {}),
      window: l.window,
      max: l.max,
      used: l.used,
      remaining: l.remaining,
      resets_at: l.resetsAt,
    })),
  });
}
