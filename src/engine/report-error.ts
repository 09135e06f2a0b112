/**
 * How the engine tells about a fault after the provider answered: once, as a process warning,
 * never by failing the call (the caller has been served; failing now would make the SDK call the
 * provider again). Messages carry the call's counts, never keys, prompts or answers.
 */
export function reportAfterAnswer(what: string, error: unknown): void {
  const detail = error instanceof Error ? error.message : String(error);
  process.emitWarning(`tokenlay: ${what}: ${detail}`, { code: 'TOKENLAY_AFTER_ANSWER' });
}
