import { TokenlayError } from '../errors.js';

/**
 * A rules document was refused. Nothing of it was applied; `problems` lists every problem found,
 * each led by its path in the document (`rules[2].then.limits[0].window: …`).
 */
export class TokenlayRulesError extends TokenlayError {
  override name = 'TokenlayRulesError';
  /** Every problem, one line each, led by its path. */
  readonly problems: string[];
  /** The file the rules came from, or `"rules object"`. */
  readonly source: string;

  constructor(source: string, problems: string[]) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(
      `tokenlay: the rules in ${source} were refused (${count}); nothing was applied. Fix:\n` +
        problems.map((p) => `  - ${p}`).join('\n'),
    );
    this.problems = problems;
    this.source = source;
  }
}
