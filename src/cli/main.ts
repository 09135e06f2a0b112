#!/usr/bin/env node
/**
 * The `tokenlay` command. Each subcommand lives in its own file and is loaded only when named, so
 * `tokenlay usage` never loads the gateway's HTTP server and `tokenlay --help` loads nothing.
 */

type Command = { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> };

const commands: Record<string, Command> = {
  gateway: { summary: 'serve the policy engine as a Tokenlay-compatible proxy', load: () => import('./gateway.js') },
  keys: { summary: 'create, list and revoke tokenlay keys (accounts)', load: () => import('./keys.js') },
  usage: { summary: 'print usage and cost grouped by a field', load: () => import('./usage.js') },
  export: { summary: 'stream the ledger to a CSV file', load: () => import('./export.js') },
  billing: { summary: 'push the ledger to Stripe or CloudEvents (OpenMeter), reconcile', load: () => import('./billing.js') },
  simulate: { summary: "replay the ledger's calls under other rules: refusals, cost, margin", load: () => import('./simulate.js') },
};

function help(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `Usage: tokenlay <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun 'tokenlay <command> --help' for a command's options.`;
}

/**
 * A reader that stops early (`tokenlay export --csv - | head -3`) closes the pipe: that ends the
 * command quietly, as Unix tools end on SIGPIPE, instead of with `write EPIPE`.
 */
function endQuietlyOnClosedPipe(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

export async function main(argv: string[]): Promise<number> {
  endQuietlyOnClosedPipe();
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name === undefined ? 1 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    console.error(`tokenlay: unknown command '${name}'.\n\n${help()}`);
    return 1;
  }
  const mod = await command.load();
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? `tokenlay: ${err.message}` : err);
    process.exitCode = 1;
  },
);
