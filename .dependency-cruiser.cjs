/**
 * Which place may import which: the table of places and principle 8 of the architecture, checked by
 * `npm run lint` (`depcruise`). Imports run one way: adapters → scope → protocol; client → scope,
 * protocol, engine; engine → policy, metering, store, protocol; only `src/client/` imports `openai`;
 * no cycles. The README's contributing section has the same map in prose: change both together.
 *
 * Every place may use the base files of `src/` (`errors.ts`, `version.ts`, `node-builtins.ts`),
 * which import nothing of the product but each other.
 */

/** The base of `src/`: every place may import it. */
const BASE = '^src/(errors|version|node-builtins)[.]ts$';

/**
 * Each place and the places it may import (besides itself and the base). A place not listed here
 * (a new folder) may import only the base until it is added.
 */
const PLACES = {
  protocol: [],
  scope: ['protocol'],
  adapters: ['scope', 'protocol'],
  client: ['scope', 'protocol', 'engine'],
  policy: ['protocol'],
  // Metering reads the wire's SSE framing with the protocol's one reader.
  metering: ['protocol'],
  store: [],
  // Alerts are the engine's notifier: told by the engine, they read rules and rows, never call it.
  alerts: ['policy', 'store', 'protocol'],
  engine: ['policy', 'metering', 'store', 'protocol', 'alerts'],
  billing: ['policy', 'store', 'metering', 'protocol'],
  // The page and its API over the ledger; never the engine's internals.
  dashboard: ['policy', 'store', 'metering', 'protocol'],
  // The gateway serves the engine and the dashboard over HTTP, and owns the CLI (its `bin`).
  gateway: ['engine', 'policy', 'metering', 'store', 'protocol', 'alerts', 'dashboard', 'cli'],
  cli: ['gateway', 'engine', 'policy', 'metering', 'store', 'protocol', 'alerts', 'dashboard', 'billing'],
};

/**
 * Named exceptions: one file a place may import outside its list, and why.
 * - client → `metering/usage.ts`: the client reads provider usage from answers that came without a
 *   Tokenlay report (the provider reached directly) with metering's dialect reader rather than keep
 *   a second copy of the dialects. Metering imports only the base, so this loads no engine, store
 *   or policy.
 */
const EXCEPTIONS = {
  client: ['^src/metering/usage[.]ts$'],
};

/** The path pattern of a place. */
function where(place) {
  return place === 'adapters' ? '^adapters/' : `^src/${place}/`;
}

const placeRules = Object.entries(PLACES).map(([place, allowed]) => ({
  name: `${place}-imports`,
  comment: `${where(place)} may import ${[place, ...allowed].join(', ')} and the base of src/ only (ARCHITECTURE.md, places).`,
  severity: 'error',
  from: { path: where(place) },
  to: {
    path: '^(src|adapters)/',
    pathNot: [where(place), BASE, ...allowed.map(where), ...(EXCEPTIONS[place] ?? [])],
  },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'Imports run one way: a cycle makes two files one, and load order decides what each sees.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'openai-only-in-client',
      comment: 'Only src/client/ imports the OpenAI SDK (principle 8): the engine, gateway and stores run without it.',
      severity: 'error',
      from: { pathNot: '^src/client/' },
      to: { path: '(^|/)node_modules/openai/' },
    },
    {
      name: 'openai-not-below-client',
      comment: 'Nothing below src/client/ loads the OpenAI SDK, not even through another file (the root entry, which re-exports the client, aside).',
      severity: 'error',
      from: { path: '^(src|adapters)/', pathNot: '^src/(client/|index[.]ts$)' },
      to: { path: '(^|/)node_modules/openai/', reachable: true },
    },
    {
      name: 'base-imports',
      comment: 'The base of src/ (errors, version, runtime probe) imports nothing of the product but itself.',
      severity: 'error',
      from: { path: BASE },
      to: { path: '^(src|adapters)/', pathNot: BASE },
    },
    {
      name: 'entry-imports',
      comment: 'The root entry re-exports the public API; it never loads an adapter, the gateway, the dashboard or the CLI.',
      severity: 'error',
      from: { path: '^src/index[.]ts$' },
      to: { path: '^(adapters/|src/(gateway|dashboard|cli|billing|alerts)/)' },
    },
    ...placeRules,
  ],
  options: {
    // Type-only imports count: a type from the wrong place ties the two places together all the same.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|coverage|node_modules)/' },
  },
};
