/** One CSV line (RFC 4180): fields with a comma, quote or line break are quoted, quotes doubled. */
export function csvLine(values: ReadonlyArray<string | number | boolean | null | undefined>): string {
  return values
    .map((v) => {
      const text = v === null || v === undefined ? '' : String(v);
      // A leading = + - @ would run as a formula in a spreadsheet; a quote mark keeps it text.
      const safe = /^[=+\-@]/.test(text) && typeof v === 'string' ? `'${text}` : text;
      return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
    })
    .join(',');
}
