import { parseArgs, type ParseArgsConfig } from 'node:util';

/** One command-line flag with its env var and default, the single source of parsing and `--help`. */
export interface Flag {
  name: string;
  env?: string;
  /** Shown in `--help`; applied by the command itself. */
  default?: string;
  /** A placeholder for the value, e.g. `MS`; absent for a boolean flag. */
  value?: string;
  multiple?: boolean;
  help: string;
}

/** Width `--help` fits in: a terminal's 80 columns. */
export const HELP_WIDTH = 80;

/** Words of `text` in lines of at most `width` characters (a longer word keeps its own line). */
export function wrapText(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return line ? [...lines, line] : lines;
}

/**
 * `--help` text in lines of at most 80 characters: each flag on its own line with its env var and
 * default, its description wrapped below, indented.
 */
export function flagHelp(usage: string, flags: Flag[]): string {
  const indent = ' '.repeat(8);
  const lines = flags.map((f) => {
    const extra = [f.env ? `env: ${f.env}` : undefined, f.default !== undefined ? `default: ${f.default}` : undefined].filter(Boolean).join('; ');
    const head = `  --${f.name}${f.value ? ` ${f.value}` : ''}${f.multiple ? ' …' : ''}`;
    // The head keeps its leading spaces; what follows it wraps under the description's indent.
    const [first, ...rest] = wrapText(`${head.trim()}${extra ? `  (${extra})` : ''}`, HELP_WIDTH - 2);
    const more = rest.length > 0 ? wrapText(rest.join(' '), HELP_WIDTH - indent.length).map((l) => indent + l) : [];
    return ['  ' + first!.replace(/^(\S+(?: \S+)?(?: …)?) \(/, '$1  ('), ...more, ...wrapText(f.help, HELP_WIDTH - indent.length).map((l) => indent + l)].join('\n');
  });
  return `${usage}\n\nOptions:\n${lines.join('\n')}\n  --help\n${indent}show this help`;
}

/** Edit distance of two short names (for "did you mean"). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** The known flag closest to a mistyped one, if it is close enough to be what was meant. */
export function nearestFlag(given: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const d = name.startsWith(given) || given.startsWith(name) ? 1 : distance(given, name);
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(given.length / 3)) ? best : undefined;
}

/**
 * A clear sentence for what `node:util`'s parseArgs refused: an unknown flag gets "did you mean",
 * a flag missing its value says so with the value it takes (parseArgs calls that "ambiguous"
 * when the next word is another flag), a boolean flag given a value says it takes none.
 * @param values the placeholder of each flag that takes a value, by name (e.g. `{ rules: 'FILE' }`)
 */
export function explainFlagError(err: unknown, values: Record<string, string>, booleans: string[]): string {
  const message = (err as Error).message;
  const name = /'--([^' ]+)/.exec(message)?.[1] ?? /'(-[^' ]+)'/.exec(message)?.[1];
  const known = [...Object.keys(values), ...booleans];
  const list = `Known flags: ${known.map((k) => `--${k}`).join(', ')}.`;
  const code = (err as NodeJS.ErrnoException).code;
  if (name !== undefined && code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const bare = name.replace(/^-+/, '').replace(/=.*$/, '');
    const near = nearestFlag(bare, known);
    return `unknown flag --${bare}${near ? `; did you mean --${near}?` : '.'} ${list}`;
  }
  if (name !== undefined && code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    if (values[name] !== undefined) {
      return `--${name} needs a value: --${name} ${values[name]}. A value that starts with a dash is given as --${name}=-VALUE.`;
    }
    return `--${name} takes no value; give it alone: --${name}.`;
  }
  return `${message.split('\n')[0]} ${list}`;
}

/** Flags from argv, then env vars, as strings (lists for `multiple`); unknown flags throw with the list of known ones. */
export function readFlags(command: string, argv: string[], flags: Flag[], env: NodeJS.ProcessEnv = process.env): { values: Record<string, string | string[] | undefined>; help: boolean; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = { help: { type: 'boolean' } };
  for (const f of flags) options[f.name] = { type: f.value ? 'string' : 'boolean', ...(f.multiple ? { multiple: true } : {}) };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    const values = Object.fromEntries(flags.filter((f) => f.value).map((f) => [f.name, f.value!]));
    const booleans = [...flags.filter((f) => !f.value).map((f) => f.name), 'help'];
    throw new Error(`tokenlay ${command}: ${explainFlagError(err, values, booleans)}`);
  }
  const values: Record<string, string | string[] | undefined> = {};
  for (const f of flags) {
    const given = parsed.values[f.name];
    if (given !== undefined) values[f.name] = typeof given === 'boolean' ? String(given) : (given as string | string[]);
    else if (f.env && env[f.env]) values[f.name] = f.multiple ? env[f.env]!.split(',').map((s) => s.trim()).filter(Boolean) : env[f.env];
  }
  return { values, help: parsed.values.help === true, positionals: parsed.positionals };
}

/**
 * A command with actions (`tokenlay limits set|list|clear`): its flags, and the action named first.
 * Prints the help for `--help` or `help` and gives 0; prints what was wrong and gives 1 for an
 * unknown flag or action; else the flags and the action.
 */
export function readAction<const A extends string>(
  command: string,
  argv: string[],
  flags: Flag[],
  help: string,
  actions: readonly A[],
): { parsed: ReturnType<typeof readFlags>; action: A } | number {
  let parsed: ReturnType<typeof readFlags>;
  try {
    parsed = readFlags(command, argv, flags);
  } catch (err) {
    console.error((err as Error).message);
    return 1;
  }
  const [action] = parsed.positionals;
  if (parsed.help || action === 'help') {
    console.log(help);
    return 0;
  }
  if (!(actions as readonly string[]).includes(action as string)) {
    const known = `${actions.slice(0, -1).join(', ')} or ${actions[actions.length - 1]}`;
    console.error(`tokenlay ${command}: ${action === undefined ? 'say what to do' : `unknown action ${JSON.stringify(action)}`}: ${known}.\n\n${help}`);
    return 1;
  }
  return { parsed, action: action as A };
}

/** A whole number within bounds, or an Error naming the flag, the value and what it takes. */
export function intFlag(command: string, flag: Flag, text: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text.trim()) || Number(text) < min || Number(text) > max) {
    throw new Error(`tokenlay ${command}: --${flag.name} (or ${flag.env}) must be a whole number from ${min} to ${max}; got ${JSON.stringify(text)}. Example: --${flag.name} ${flag.default ?? min}.`);
  }
  return Number(text);
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>>['values'];

/**
 * A command's flags parsed strictly (no positionals), with `--help`/`-h` added. On a bad flag it
 * prints `tokenlay <command>: <problem>` and the help to stderr and returns the exit code 1; on
 * `--help` it prints the help and returns 0. Otherwise the parsed values.
 */
export function commandFlags<const O extends Options>(command: string, argv: string[], options: O, help: string): Parsed<O> | number {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }));
  } catch (err) {
    const entries = Object.entries(options);
    // The value each flag takes, as its help shows it (`--by user|org|…`, `--store URL`).
    const shown = (name: string) => new RegExp(`--${name} ([^\\s,]+)`).exec(help)?.[1] ?? name.toUpperCase();
    const values = Object.fromEntries(entries.filter(([, o]) => o.type === 'string').map(([name]) => [name, shown(name)]));
    const booleans = [...entries.filter(([, o]) => o.type === 'boolean').map(([name]) => name), 'help'];
    console.error(`tokenlay ${command}: ${explainFlagError(err, values, booleans)}\n\n${help}`);
    return 1;
  }
  if (values.help) {
    console.log(help);
    return 0;
  }
  return values as Parsed<O>;
}
