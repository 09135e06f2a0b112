/**
 * Type-level test, checked by `tsc --noEmit -p .` (not run by vitest): a custom field declared by
 * declaration merging on `TokenlayFields` is typed in every adapter's `identify`, in `fields`,
 * `runWithTokenlay`, `setTokenlayContext`, the client's `metadata` and `getTokenlayContext()`.
 * Each `@ts-expect-error` line must fail to compile; if typing regressed to plain strings, the
 * directive itself would become the error.
 *
 * An app writes `declare module 'tokenlay'`; inside this repository the module is the source file.
 */
import { getTokenlayContext, runWithTokenlay, setTokenlayContext, TokenlayOpenAI, type FieldInput } from '../../src/index.js';
import { tokenlay as expressTokenlay } from '../../adapters/express.js';
import { tokenlay as koaTokenlay } from '../../adapters/koa.js';
import { tokenlay as fastifyTokenlay, type TokenlayFastifyOptions } from '../../adapters/fastify.js';
import { tokenlay as honoTokenlay } from '../../adapters/hono.js';
import { withTokenlay } from '../../adapters/next.js';

declare module '../../src/protocol/fields.js' {
  interface TokenlayFields {
    /** The team whose budget a call spends. */
    team?: 'red' | 'blue';
  }
}

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const assert = <T extends true>(): T => true as T;

// The custom field is a known key (what editors offer for completion), with its own type.
assert<'team' extends keyof FieldInput ? true : false>();
assert<Equal<NonNullable<FieldInput['team']>, 'red' | 'blue' | number>>();

expressTokenlay({ identify: () => ({ user: 'u1', team: 'red' }), fields: { team: 'blue' } });
// @ts-expect-error 'green' is not a team
expressTokenlay({ identify: () => ({ user: 'u1', team: 'green' }) });
// @ts-expect-error 'green' is not a team
expressTokenlay({ fields: { team: 'green' } });

koaTokenlay({ identify: async (ctx) => ({ user: String(ctx.state.user?.id), team: 'red' }) });
// @ts-expect-error 'green' is not a team
koaTokenlay({ identify: async () => ({ team: 'green' }) });

const fastifyOptions: TokenlayFastifyOptions = { identify: (request) => ({ user: request.id, team: 'blue' }) };
// @ts-expect-error 'green' is not a team
const badFastifyOptions: TokenlayFastifyOptions = { identify: () => ({ team: 'green' }) };
void fastifyTokenlay;

honoTokenlay({ identify: (c) => ({ user: c.req.header('x-user'), team: 'red' }) });
// @ts-expect-error 'green' is not a team
honoTokenlay({ identify: () => ({ team: 'green' }) });

withTokenlay(async () => new Response(), { identify: (request) => ({ user: request.headers.get('x-user'), team: 'blue' }) });
// @ts-expect-error 'green' is not a team
withTokenlay(async () => new Response(), { identify: () => ({ team: 'green' }) });

runWithTokenlay({ team: 'blue' }, () => undefined);
// @ts-expect-error 'green' is not a team
runWithTokenlay({ team: 'green' }, () => undefined);

setTokenlayContext({ team: 'red' });
// @ts-expect-error 'green' is not a team
setTokenlayContext({ team: 'green' });

new TokenlayOpenAI({ metadata: { team: 'red' } });
// @ts-expect-error 'green' is not a team
new TokenlayOpenAI({ metadata: { team: 'green' } });

const seen: 'red' | 'blue' | undefined = getTokenlayContext()?.team;
void [fastifyOptions, badFastifyOptions, seen];
