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

/** `--help` text: every flag with its value, default and env var. */
export function flagHelp(usage: string, flags: Flag[]): string {
  const left = flags.map((f) => `  --${f.name}${f.value ? ` ${f.value}` : ''}${f.multiple ? ' …' : ''}`);
  const width = Math.max(...left.map((l) => l.length));
  const lines = flags.map((f, i) => {
    const extra = [f.default !== undefined ? `default: ${f.default}` : undefined, f.env ? `env: ${f.env}` : undefined].filter(Boolean).join('; ');
    return `${left[i]!.padEnd(width)}  ${f.help}${extra ? ` (${extra})` : ''}`;
  });
  return `${usage}\n\nOptions:\n${lines.join('\n')}\n  ${'--help'.padEnd(width - 2)}  show this help`;
}

/** Flags from argv, then env vars, as strings (lists for `multiple`); unknown flags throw with the list of known ones. */
export function readFlags(command: string, argv: string[], flags: Flag[], env: NodeJS.ProcessEnv = process.env): { values: Record<string, string | string[] | undefined>; help: boolean; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = { help: { type: 'boolean' } };
  for (const f of flags) options[f.name] = { type: f.value ? 'string' : 'boolean', ...(f.multiple ? { multiple: true } : {}) };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    const known = flags.map((f) => `--${f.name}`).join(', ');
    throw new Error(`tokenlay ${command}: ${(err as Error).message.split('\n')[0]} Known flags: ${known}, --help.`);
  }
  const values: Record<string, string | string[] | undefined> = {};
  for (const f of flags) {
    const given = parsed.values[f.name];
    if (given !== undefined) values[f.name] = typeof given === 'boolean' ? String(given) : (given as string | string[]);
    else if (f.env && env[f.env]) values[f.name] = f.multiple ? env[f.env]!.split(',').map((s) => s.trim()).filter(Boolean) : env[f.env];
  }
  return { values, help: parsed.values.help === true, positionals: parsed.positionals };
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
    console.error(`tokenlay ${command}: ${(err as Error).message}\n\n${help}`);
    return 1;
  }
  if (values.help) {
    console.log(help);
    return 0;
  }
  return values as Parsed<O>;
}
