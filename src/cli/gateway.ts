/** `tokenlay gateway`: serves the policy engine as a Tokenlay-compatible proxy. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Gateway, GatewayAddress, GatewayOptions } from '../gateway/types.js';
import type { Flag } from './flags.js';
import { flagHelp, intFlag, readFlags } from './flags.js';
import { BILLING_FLAGS, startGatewayBilling, type GatewayBilling } from './gateway-billing.js';

const FLAGS: Flag[] = [
  { name: 'host', value: 'HOST', env: 'TOKENLAY_HOST', default: '127.0.0.1', help: 'address to listen on' },
  { name: 'port', value: 'PORT', env: 'TOKENLAY_PORT', default: '8787', help: 'port to listen on; 0 picks a free one' },
  { name: 'rules', value: 'FILE', env: 'TOKENLAY_RULES', default: 'none (every call allowed and metered)', help: 'rules file (.yaml, .yml, .json), re-read when it changes' },
  { name: 'store', value: 'URL', env: 'TOKENLAY_STORE', default: 'sqlite:./.tokenlay/usage.db', help: 'counters (and the ledger unless --ledger): sqlite:<path>, memory, or redis://host:6379 (rediss:// for TLS; redis+cluster://host1:7000,host2:7001 for a Cluster) to share limits between gateways' },
  { name: 'ledger', value: 'URL', env: 'TOKENLAY_LEDGER', default: 'the store\'s own', help: 'usage rows apart from the counters: postgres://user:password@host:5432/db, sqlite:<path> or memory; a postgres:// ledger also holds the tokenlay keys, shared by every gateway using it (a revocation reaches them all within 5 s)' },
  { name: 'ledger-spool', value: 'FILE', env: 'TOKENLAY_LEDGER_SPOOL', default: './.tokenlay/ledger-<host>-<pid>.spool', help: 'with a postgres:// ledger: the local file rows are appended to before they are sent, replayed at start; one per gateway (the default is; with it, spools of gateways that died in this folder are replayed too)' },
  { name: 'on-store-error', value: 'POLICY', env: 'TOKENLAY_ON_STORE_ERROR', default: 'closed', help: 'while Redis is unreachable: closed (answer 503 tokenlay_store_unavailable) or open (let calls through uncounted)' },
  { name: 'keys', value: 'FILE', env: 'TOKENLAY_KEYS_FILE', default: './.tokenlay/usage.db', help: 'SQLite file of the tokenlay keys (see tokenlay keys); ignored with a postgres:// --ledger, which holds them' },
  { name: 'allow-provider-base', value: 'URL', multiple: true, env: 'TOKENLAY_ALLOW_PROVIDER_BASE', default: 'the https bases of OpenAI, Anthropic, Gemini, Mistral, Groq, Together, Fireworks, DeepSeek, xAI, OpenRouter', help: 'provider base callers may use; replaces the default list; repeat for several (env: comma-separated)' },
  { name: 'stream-idle-timeout', value: 'MS', env: 'TOKENLAY_STREAM_IDLE_TIMEOUT', default: '300000', help: 'end a stream the provider leaves silent this long; 0 never' },
  { name: 'provider-timeout', value: 'MS', env: 'TOKENLAY_PROVIDER_TIMEOUT', default: '600000', help: "wait this long for the provider's answer, then try a fallback or answer 504" },
  { name: 'lease', value: 'MS', env: 'TOKENLAY_LEASE_MS', default: '60000', help: "how long a call's reservation holds without renewal; a dead gateway's calls in flight are charged what they reserved after it" },
  { name: 'max-body', value: 'BYTES', env: 'TOKENLAY_MAX_BODY', default: '20971520 (20 MiB)', help: 'largest request body; larger ones get 413' },
  { name: 'header-timeout', value: 'MS', env: 'TOKENLAY_HEADER_TIMEOUT', default: '15000', help: 'a client must send its request headers within this; then 408' },
  { name: 'body-timeout', value: 'MS', env: 'TOKENLAY_BODY_TIMEOUT', default: '60000', help: 'a client must send its whole request body within this; then 408' },
  { name: 'idle-timeout', value: 'MS', env: 'TOKENLAY_IDLE_TIMEOUT', default: '30000', help: 'hang up on a client that sends or reads nothing this long; 0 never' },
  { name: 'trust-proxy', env: 'TOKENLAY_TRUST_PROXY', default: 'off', help: 'behind a TLS-terminating proxy: read X-Forwarded-For/-Proto for the client address and a Secure dashboard cookie' },
  { name: 'drain-timeout', value: 'MS', env: 'TOKENLAY_DRAIN_TIMEOUT', default: '10000', help: 'on SIGTERM/SIGINT, wait this long for calls in flight' },
  { name: 'log-format', value: 'FORMAT', env: 'TOKENLAY_LOG_FORMAT', default: 'json', help: 'json (one line per call) or pretty (for a terminal)' },
  { name: 'log-level', value: 'LEVEL', env: 'TOKENLAY_LOG_LEVEL', default: 'info', help: 'trace, debug, info, warn, error, fatal or silent' },
  ...BILLING_FLAGS,
];

const flag = (name: string): Flag => FLAGS.find((f) => f.name === name)!;

/** The rules file, or an Error naming where its path came from when there is no file there. */
function rulesFile(path: string, fromEnv: boolean): string {
  if (!existsSync(path)) {
    const from = fromEnv ? 'TOKENLAY_RULES' : '--rules';
    throw new Error(`tokenlay gateway: ${from} names the rules file "${path}", and there is no file there (looked in ${resolve(path)}). Give the path of your rules file (.yaml, .yml or .json), e.g. --rules ./tokenlay.rules.yaml, or leave ${from} out to allow and meter every call.`);
  }
  return path;
}
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export const HELP = flagHelp('Usage: tokenlay gateway [options]\n\nServes the policy engine as a Tokenlay-compatible proxy (docs/protocol.md).', FLAGS);

export async function run(argv: string[]): Promise<number> {
  let options: GatewayOptions;
  let billingValues: Record<string, string | string[] | undefined>;
  let host: string;
  let port: number;
  try {
    const { values, help, positionals } = readFlags('gateway', argv, FLAGS);
    if (help) {
      console.log(HELP);
      return 0;
    }
    // `--billing cloudevents URL`, as `billing push --to cloudevents URL`: the URL on the command
    // line wins over TOKENLAY_BILLING_URL; given twice (with --billing-url too), it is refused.
    if (values.billing === 'cloudevents' && positionals.length > 0 && argv.some((a) => a === '--billing-url' || a.startsWith('--billing-url='))) {
      throw new Error(`tokenlay gateway: --billing cloudevents got two URLs, ${JSON.stringify(positionals[0])} and --billing-url ${JSON.stringify(values['billing-url'])}; give one.`);
    }
    if (values.billing === 'cloudevents' && positionals.length > 0) values['billing-url'] = positionals.shift();
    if (positionals.length > 0) throw new Error(`tokenlay gateway: unexpected argument ${JSON.stringify(positionals[0])}. Run 'tokenlay gateway --help' for the options.`);
    const str = (name: string) => values[name] as string | undefined;
    billingValues = values;
    host = str('host') ?? '127.0.0.1';
    port = intFlag('gateway', flag('port'), str('port'), 0, 65535) ?? 8787;
    const logFormat = str('log-format') ?? 'json';
    if (logFormat !== 'json' && logFormat !== 'pretty') throw new Error(`tokenlay gateway: --log-format (or TOKENLAY_LOG_FORMAT) must be json or pretty; got ${JSON.stringify(logFormat)}.`);
    const logLevel = str('log-level') ?? 'info';
    if (!LEVELS.includes(logLevel)) throw new Error(`tokenlay gateway: --log-level (or TOKENLAY_LOG_LEVEL) must be one of ${LEVELS.join(', ')}; got ${JSON.stringify(logLevel)}.`);
    options = { logFormat, logLevel };
    if (str('rules') !== undefined) options.rules = rulesFile(str('rules')!, values.rules === process.env.TOKENLAY_RULES && !argv.some((a) => a.startsWith('--rules')));
    if (str('store') !== undefined) options.store = str('store');
    if (str('ledger') !== undefined) options.ledger = str('ledger');
    if (str('ledger-spool') !== undefined) options.ledgerSpoolPath = str('ledger-spool');
    const onStoreError = str('on-store-error');
    if (onStoreError !== undefined) {
      if (onStoreError !== 'closed' && onStoreError !== 'open') {
        throw new Error(`tokenlay gateway: --on-store-error (or TOKENLAY_ON_STORE_ERROR) must be closed or open; got ${JSON.stringify(onStoreError)}.`);
      }
      options.onStoreError = onStoreError;
    }
    if (str('keys') !== undefined) options.keys = str('keys');
    const bases = values['allow-provider-base'];
    if (bases !== undefined) options.allowProviderBases = Array.isArray(bases) ? bases : [bases];
    const idle = intFlag('gateway', flag('stream-idle-timeout'), str('stream-idle-timeout'), 0);
    if (idle !== undefined) options.streamIdleTimeoutMs = idle;
    const timeout = intFlag('gateway', flag('provider-timeout'), str('provider-timeout'), 1);
    if (timeout !== undefined) options.providerTimeoutMs = timeout;
    const lease = intFlag('gateway', flag('lease'), str('lease'), 1);
    if (lease !== undefined) options.leaseMs = lease;
    const maxBody = intFlag('gateway', flag('max-body'), str('max-body'), 1);
    if (maxBody !== undefined) options.maxBodyBytes = maxBody;
    for (const [name, option, min] of [['header-timeout', 'headerTimeoutMs', 1], ['body-timeout', 'bodyTimeoutMs', 1], ['idle-timeout', 'idleTimeoutMs', 0]] as const) {
      const ms = intFlag('gateway', flag(name), str(name), min);
      if (ms !== undefined) options[option] = ms;
    }
    const trust = str('trust-proxy')?.trim().toLowerCase();
    if (trust !== undefined) {
      if (!['true', '1', 'yes', 'false', '0', 'no'].includes(trust)) throw new Error(`tokenlay gateway: TOKENLAY_TRUST_PROXY must be true or false; got ${JSON.stringify(str('trust-proxy'))}.`);
      options.trustProxy = ['true', '1', 'yes'].includes(trust);
    }
    const drain = intFlag('gateway', flag('drain-timeout'), str('drain-timeout'), 0);
    if (drain !== undefined) options.drainTimeoutMs = drain;
  } catch (err) {
    console.error((err as Error).message);
    return 1;
  }

  const { createGateway } = await import('../gateway/gateway.js');
  let gateway: Gateway;
  try {
    gateway = createGateway(options);
  } catch (err) {
    // A rules file with problems: every problem by path, and no gateway.
    console.error((err as Error).message);
    return 1;
  }
  const sharedKeys = gateway.keys as { ready?: () => Promise<void> };
  if (sharedKeys.ready) {
    try {
      await sharedKeys.ready();
    } catch (err) {
      console.error(`tokenlay gateway: ${(err as Error).message.replace(/^tokenlay: /, '')}`);
      await gateway.close().catch(() => {});
      return 1;
    }
  }
  let address: GatewayAddress;
  try {
    address = await gateway.listen(port, host);
  } catch (err) {
    console.error(`tokenlay gateway: cannot listen on ${host}:${port} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}). Pick another --port or --host.`);
    await gateway.close();
    return 1;
  }
  let billing: GatewayBilling | undefined;
  try {
    billing = await startGatewayBilling(billingValues, options);
  } catch (err) {
    console.error((err as Error).message);
    await gateway.close();
    return 1;
  }
  // Plain text on standard output, before any log line, so that scripts can read the port.
  process.stdout.write(`tokenlay gateway listening on ${address.url}\n`);

  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      process.stderr.write(`tokenlay gateway: ${signal}: finishing calls in flight, writing the ledger\n`);
      // The billing pusher finishes its batch first; what it leaves is pushed at the next start.
      (billing?.stop() ?? Promise.resolve())
        .then(() => gateway.close())
        .then(
        () => resolve(0),
        (err: unknown) => {
          console.error(`tokenlay gateway: shutdown failed: ${(err as Error).message}`);
          resolve(1);
        },
      );
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}
