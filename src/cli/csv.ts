/**
 * The one CSV writer of the product: `tokenlay export`, `tokenlay usage --csv` and
 * `GET /v1/usage?format=csv` all write through it. RFC 4180 quoting, and csv-stringify's
 * `escape_formulas`: a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return (or the
 * full-width `＝＋－＠`) gets a leading `'`, so that a spreadsheet shows it as text instead of
 * running it (OWASP, "CSV Injection"). Numbers are left as they are, negative ones included.
 */
import { stringify, type Options } from 'csv-stringify/sync';

/** What a cell may hold; null and undefined are written as an empty cell. */
export type CsvValue = string | number | boolean | null | undefined;

const OPTIONS: Options = {
  escape_formulas: true,
  eof: false,
  // A lone carriage return would end the line for some readers: quote it like a line feed.
  quoted_match: /\r/,
  // `true`/`false`, as before (the library's default writes 1 and an empty cell).
  cast: { boolean: (value) => String(value) },
};

/** One CSV line, without its line break. */
export function csvLine(values: readonly CsvValue[]): string {
  return stringify([values as CsvValue[]], OPTIONS);
}

/** A whole CSV text: a header line, then one line a row, each ended by `\n`. */
export function csvText(header: readonly string[], rows: ReadonlyArray<readonly CsvValue[]>): string {
  return [header, ...rows].map((r) => csvLine(r) + '\n').join('');
}
