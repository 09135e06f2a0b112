// Prints vitest's JSON report as one plain closing line: "vitest: N passed, N failed, N skipped".
import { readFileSync, existsSync } from 'node:fs';

const file = process.argv[2];
if (!existsSync(file)) {
  console.log('vitest: 0 passed, 1 failed');
  process.exit(0);
}
const report = JSON.parse(readFileSync(file, 'utf8'));
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
console.log(`vitest: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`);
