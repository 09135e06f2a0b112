/** The wire contract of docs/protocol.md, in one place: names, attribution headers, the call report, error bodies. */
export * from './names.js';
export * from './fields.js';
export * from './headers.js';
export * from './report.js';
export * from './error-body.js';
export * from './run-budget.js';
