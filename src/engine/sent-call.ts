/**
 * A call once admitted: what forwarding, metering, settling and answering it share. One object per
 * call, with its helpers as methods rather than closures made anew for every call.
 */
import type { Admitted } from './admission.js';
import { callerAskedForUsage, isStreamedChat, providerBody, type JsonBody } from './body.js';
import type { CallState } from './call.js';
import type { EngineContext } from './context.js';
import type { InFlightCall } from './in-flight.js';
import { meterAbandoned, NO_USAGE, type MeterContext } from './meter.js';
import { withOutputLimit } from './reservation.js';
import { openSettlement, type Settlement } from './settle.js';
import type { StopSource } from './forward.js';
import type { EngineCall } from './types.js';

/** The ledger status of a call whose caller went away (nginx's 499 "client closed request"). */
export const CLIENT_CLOSED = 499;

/**
 * Ends the provider call when the call is cut off by shutdown. It reads as an abort signal to
 * `forward` (a reason, listeners for `abort`), without being one: an `AbortController` or an
 * `EventTarget` costs several microseconds to make and to listen to on Node 20, on every call,
 * and almost no call is ever cut off. Listeners are told once, as with `{ once: true }`.
 */
class StopSignal implements StopSource {
  aborted = false;
  reason: unknown = undefined;
  private listeners: Array<() => void> | undefined;

  addEventListener(_type: 'abort', listener: () => void): void {
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const at = this.listeners?.indexOf(listener) ?? -1;
    if (at >= 0) this.listeners!.splice(at, 1);
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const told = this.listeners;
    this.listeners = undefined;
    for (const listener of told ?? []) listener();
  }
}

export class SentCall {
  readonly settlement: Settlement;
  /** Ends the provider call, whoever still waits for it. */
  readonly stop = new StopSignal();
  /** A streamed chat call the engine asks usage for, the caller having not. */
  readonly askUsage: boolean;

  constructor(
    readonly ctx: EngineContext,
    readonly call: EngineCall,
    readonly state: CallState,
    admission: Admitted,
    flight: InFlightCall,
  ) {
    this.askUsage = isStreamedChat(state.endpoint, state.body) && !callerAskedForUsage(state.body);
    this.settlement = openSettlement(ctx, state, admission.reservationId, () => flight.finish());
    // Shutdown cuts a call off as a caller who went away would: the provider may bill all it asked for.
    flight.cutOff = () => this.cutOff();
  }

  // The body of the last model asked for: forwarding and metering both read it.
  private bodyModel: string | undefined;
  private body: JsonBody | undefined;

  /** The body sent to `model`: the rule's parameters, the engine's stream options and output limit written in. */
  sentBody(model: string | undefined): JsonBody | undefined {
    const { state } = this;
    if (!state.body) return undefined;
    if (this.body !== undefined && this.bodyModel === model) return this.body;
    // A model named in the path (Gemini) stays there: Gemini refuses a body with a model field.
    this.body = withOutputLimit(state.endpoint, providerBody(state.body, state.decision.params, state.pathModel === undefined ? model : undefined, this.askUsage), model, state.estimate);
    this.bodyModel = model;
    return this.body;
  }

  meterFor(model: string | undefined): MeterContext {
    const { state, ctx } = this;
    return { endpoint: state.endpoint, pricer: ctx.pricer, providerHint: state.hint, model, sentBody: this.sentBody(model) };
  }

  /** Whether the caller went away. */
  left(): boolean {
    return this.call.signal?.aborted === true;
  }

  /** The status the ledger records: a caller who left is recorded as such, whatever the provider then answered. */
  statusOf(status: number): number {
    return this.left() ? CLIENT_CLOSED : status;
  }

  /** Settles a call that billed nothing; `reached`: the provider got it (requests limits count it). */
  nothing(status: number, model: string | undefined, reached: boolean): Promise<void> {
    return this.settlement.settle({ status: this.statusOf(status), usage: NO_USAGE, cost: 0, model, billed: false, reached });
  }

  /** Settles a call cut off after it was sent (shutdown, or a caller who left a stream): the provider may bill all it asked for. */
  cutOff(): Promise<void> {
    this.stop.abort(new Error('tokenlay: the call was cut off by shutdown'));
    const metered = meterAbandoned(this.meterFor(this.state.model), 'cut off');
    return this.settlement.settle({ status: CLIENT_CLOSED, usage: metered.used, cost: metered.cost, model: metered.model, billed: true });
  }
}
