// Prints vitest JSON reports as CI's matrix: one line per Node version and openai major with its
// pass counts, then one plain closing line over all: "vitest: N passed, N failed, N skipped".
// Usage: node scripts/test-summary.mjs <label>=<report.json> ...   (a label such as "Node 22.23.5")
import { existsSync, readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
let skipped = 0;
for (const arg of process.argv.slice(2)) {
  const at = arg.lastIndexOf('=');
  const [label, file] = at === -1 ? ['', arg] : [arg.slice(0, at), arg.slice(at + 1)];
  if (!existsSync(file)) {
    // A run that wrote no report failed before or while testing.
    console.log(`${label}: no report (${file}): the run failed before reporting`);
    failed += 1;
    continue;
  }
  const report = JSON.parse(readFileSync(file, 'utf8'));
  const byMajor = new Map();
  for (const suite of report.testResults) {
    for (const test of suite.assertionResults) {
      const major = test.meta?.openai ? `openai ${test.meta.openai}` : 'openai ?';
      const counts = byMajor.get(major) ?? { passed: 0, failed: 0, skipped: 0 };
      if (test.status === 'passed') counts.passed++;
      else if (test.status === 'failed') counts.failed++;
      else counts.skipped++;
      byMajor.set(major, counts);
    }
    // A file that failed to load has no tests to count, but it failed.
    if (suite.status === 'failed' && suite.assertionResults.length === 0) {
      const counts = byMajor.get('openai ?') ?? { passed: 0, failed: 0, skipped: 0 };
      counts.failed++;
      byMajor.set('openai ?', counts);
    }
  }
  for (const [major, c] of [...byMajor].sort()) {
    console.log(`${label} ${major}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`);
    passed += c.passed;
    failed += c.failed;
    skipped += c.skipped;
  }
}
console.log(`vitest: ${passed} passed, ${failed} failed, ${skipped} skipped`);
