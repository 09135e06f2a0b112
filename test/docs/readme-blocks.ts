/**
 * Reading README.md the way its test executes it: the fenced code blocks with the HTML comments
 * just above them, the commands of a shell block, and the names a TypeScript block declares and uses.
 */
import ts from 'typescript';

export interface Block {
  /** The fence's info string, e.g. `ts`, `sh`, `yaml` (empty when none was given). */
  lang: string;
  code: string;
  /** 1-based line of the opening fence in README.md. */
  line: number;
  /** `<!-- key: value -->` comments on the lines right above the fence, e.g. `typecheck-only`, `file`. */
  notes: Record<string, string>;
}

/** Every fenced block of a markdown text, in order. */
export function fencedBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[1]!;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith(fence); i++) body.push(lines[i]!);
    if (i === lines.length) throw new Error(`README.md:${start + 1}: a code fence is never closed`);
    const notes: Record<string, string> = {};
    for (let j = start - 1; j >= 0; j--) {
      const note = /^<!--\s*([\w-]+):\s*(.*?)\s*-->$/.exec(lines[j]!.trim());
      if (!note) break;
      notes[note[1]!] = note[2]!;
    }
    blocks.push({ lang: open[2]!.toLowerCase(), code: body.join('\n') + '\n', line: start + 1, notes });
  }
  return blocks;
}

/** The text between a `## heading` and the next heading of that level. */
export function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start === -1) throw new Error(`README.md has no "## ${heading}" section`);
  const end = markdown.indexOf('\n## ', start + 4);
  return markdown.slice(start, end === -1 ? undefined : end);
}

/** One shell command: its text as a shell runs it, and its words (quotes removed) for checks. */
export interface Command {
  text: string;
  words: string[];
}

/**
 * The commands of a shell block: continuation lines joined, comments dropped, `a && b` split.
 * Words are split as sh would for the simple quoting a README uses ('…', "…", no escapes inside).
 */
export function shellCommands(code: string): Command[] {
  const joined = code.replace(/\\\n\s*/g, ' ');
  const commands: Command[] = [];
  for (const line of joined.split('\n')) {
    const words: string[] = [];
    let text = '';
    let word: string | undefined;
    let quote: string | undefined;
    const flush = () => {
      if (word !== undefined) words.push(word);
      word = undefined;
    };
    const end = () => {
      flush();
      if (words.length > 0) commands.push({ text: text.trim(), words: words.splice(0) });
      text = '';
    };
    let i = 0;
    for (; i < line.length; i++) {
      const c = line[i]!;
      if (quote) {
        if (c === quote) quote = undefined;
        else word += c;
      } else if (c === "'" || c === '"') {
        quote = c;
        word ??= '';
      } else if (/\s/.test(c)) {
        flush();
      } else if (c === '#' && word === undefined) {
        break; // a comment, to the end of the line
      } else if (c === '&' && line[i + 1] === '&') {
        end();
        i++;
        continue;
      } else {
        word = (word ?? '') + c;
      }
      text += c;
    }
    if (quote) throw new Error(`unclosed ${quote} in: ${line}`);
    end();
  }
  return commands;
}

/** `--flag` names of a command's words (`--to=x` → `to`), after its subcommand. */
export function flagsOf(words: string[]): string[] {
  return words.filter((w) => /^--[a-z]/.test(w)).map((w) => w.slice(2).split('=')[0]!);
}

/** What a TypeScript block declares at its top level, and which names it refers to. */
export interface BlockNames {
  /** Values declared at the top level (const, let, function, class), not exported by the block itself. */
  values: string[];
  /** Every name bound at the top level: imports, values, types, exported or not. */
  bound: Set<string>;
  /** Identifiers used anywhere, except property names after a dot. */
  used: Set<string>;
}

export function blockNames(code: string): BlockNames {
  const source = ts.createSourceFile('block.ts', code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const values: string[] = [];
  const bound = new Set<string>();
  const used = new Set<string>();
  const bindingNames = (name: ts.BindingName, into: string[]) => {
    if (ts.isIdentifier(name)) into.push(name.text);
    else for (const element of name.elements) if (!ts.isOmittedExpression(element)) bindingNames(element.name, into);
  };
  for (const statement of source.statements) {
    const exported = ts.canHaveModifiers(statement) && ts.getModifiers(statement)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    const names: string[] = [];
    let isValue = false;
    if (ts.isImportDeclaration(statement)) {
      const clause = statement.importClause;
      if (clause?.name) names.push(clause.name.text);
      const bindings = clause?.namedBindings;
      if (bindings && ts.isNamespaceImport(bindings)) names.push(bindings.name.text);
      if (bindings && ts.isNamedImports(bindings)) for (const el of bindings.elements) names.push(el.name.text);
    } else if (ts.isVariableStatement(statement)) {
      for (const d of statement.declarationList.declarations) bindingNames(d.name, names);
      isValue = true;
    } else if ((ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement)) && statement.name) {
      names.push(statement.name.text);
      isValue = true;
    } else if ((ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement) || ts.isEnumDeclaration(statement)) && statement.name) {
      names.push(statement.name.text);
    }
    for (const name of names) bound.add(name);
    if (isValue && !exported) values.push(...names);
  }
  const visit = (node: ts.Node) => {
    if (ts.isIdentifier(node) && !(ts.isPropertyAccessExpression(node.parent) && node.parent.name === node)) used.add(node.text);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { values, bound, used };
}
