import type * as NodeFs from 'node:fs';
import type * as NodePath from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { TokenlayRulesError } from './errors.js';
import { validateRules } from './validate.js';
import { nodeBuiltin } from '../node-builtins.js';
import type { RulesDocument } from './types.js';

function parseFile(path: string): unknown {
  const ext = (/\.[^./\\]*$/.exec(path)?.[0] ?? '').toLowerCase();
  if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') {
    throw new TokenlayRulesError(path, [`(file): unknown extension "${ext}"; expected .json, .yaml or .yml`]);
  }
  let text: string;
  try {
    text = nodeBuiltin<typeof NodeFs>('node:fs', 'a rules file').readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TokenlayRulesError(path, [`(file): cannot read it (${code ?? (err as Error).message}); check the path given as policy`]);
  }
  if (ext === '.json') {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new TokenlayRulesError(path, [`(file): not valid JSON: ${(err as Error).message}`]);
    }
  }
  try {
    return parseYaml(text);
  } catch (err) {
    if (!(err instanceof YAMLParseError)) throw err;
    const where = err.linePos?.[0];
    const at = where ? `line ${where.line}, column ${where.col}` : '(file)';
    const reason = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new TokenlayRulesError(path, [`${at}: not valid YAML: ${reason}`]);
  }
}

/**
 * Loads and validates a rules document: a path to a `.json`, `.yaml` or `.yml` file, or the
 * document as an object. The whole document is checked before anything is returned.
 *
 * @throws {TokenlayRulesError} naming the file and listing every problem by path (for a YAML
 * syntax error, its line).
 */
export function loadRules(source: string | object): RulesDocument {
  if (typeof source === 'string') {
    const path = nodeBuiltin<typeof NodePath>('node:path', 'a rules file').resolve(source);
    return validateRules(parseFile(path), source);
  }
  return validateRules(source, 'rules object');
}
