/** `tokenlay usage`: not built yet; it says so instead of pretending. */
export async function run(_argv: string[]): Promise<number> {
  console.error('tokenlay usage: this command is not available in this version of tokenlay.');
  return 1;
}
