import { readFileSync, statSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { MAX_RULES_DEPTH, MAX_RULES_FILE_BYTES, MAX_YAML_ALIASES } from './bounds.js';
import { TokenlayRulesError } from './errors.js';
import { validateRules, type ValidateOptions } from './validate.js';
import type { RulesDocument } from './types.js';

function parseFile(path: string): unknown {
  const ext = extname(path).toLowerCase();
  if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') {
    throw new TokenlayRulesError(path, [`(file): unknown extension "${ext}"; expected .json, .yaml or .yml`]);
  }
  let text: string;
  try {
    const { size } = statSync(path);
    if (size > MAX_RULES_FILE_BYTES) {
      throw new TokenlayRulesError(path, [`(file): ${size} bytes; a rules file has at most ${MAX_RULES_FILE_BYTES} bytes (1 MiB). Check that policy names the rules file, and split out what is not rules.`]);
    }
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof TokenlayRulesError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new TokenlayRulesError(path, [`(file): cannot read it (${code ?? (err as Error).message}); check the path given as policy`]);
  }
  if (ext === '.json') {
    try {
      return JSON.parse(text);
    } catch (err) {
      if (err instanceof RangeError) throw tooDeep(path);
      throw new TokenlayRulesError(path, [`(file): not valid JSON: ${(err as Error).message}`]);
    }
  }
  try {
    return parseYaml(text, { maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    // The yaml package refuses an alias bomb with a ReferenceError, and reports a stack overflow
    // from deep nesting as a parse error.
    if (err instanceof ReferenceError) {
      throw new TokenlayRulesError(path, [
        `(file): YAML aliases expand past ${MAX_YAML_ALIASES} copies (an alias bomb?). Write the shared part out, or use fewer anchors and aliases.`,
      ]);
    }
    if (err instanceof RangeError || (err instanceof Error && /Maximum call stack/.test(err.message))) throw tooDeep(path);
    if (!(err instanceof YAMLParseError)) throw err;
    const where = err.linePos?.[0];
    const at = where ? `line ${where.line}, column ${where.col}` : '(file)';
    const reason = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new TokenlayRulesError(path, [`${at}: not valid YAML: ${reason}`]);
  }
}

function tooDeep(path: string): TokenlayRulesError {
  return new TokenlayRulesError(path, [`(file): nested deeper than ${MAX_RULES_DEPTH} levels. Flatten it: list conditions under one and/or instead of nesting them.`]);
}

/**
 * Loads and validates a rules document: a path to a `.json`, `.yaml` or `.yml` file, or the
 * document as an object. The whole document is checked before anything is returned.
 *
 * A file over 1 MiB, a YAML alias bomb, nesting deeper than 64 levels and more than 10,000 rules
 * are refused before anything else is checked.
 *
 * @throws {TokenlayRulesError} naming the file and listing every problem by path (for a YAML
 * syntax error, its line).
 */
export function loadRules(source: string | object, options: ValidateOptions = {}): RulesDocument {
  if (typeof source === 'string') {
    const path = resolve(source);
    return validateRules(parseFile(path), source, options);
  }
  return validateRules(source, 'rules object', options);
}
