// Validate an AsyncAPI document with the official parser (@asyncapi/parser, pinned in
// package.json). Usage: node validate_asyncapi.mjs <file>. Prints the diagnostics as JSON and
// exits 0 when the document parses without errors, 1 otherwise.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Parser, DiagnosticSeverity } = require('@asyncapi/parser');

const path = process.argv[2];
if (!path) {
  console.error('usage: node validate_asyncapi.mjs <asyncapi file>');
  process.exit(2);
}

const parser = new Parser();
const { document, diagnostics } = await parser.parse(await readFile(path, 'utf8'));
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
console.log(JSON.stringify({
  valid: document !== undefined && errors.length === 0,
  version: document?.version(),
  channels: document ? document.channels().all().map((c) => c.id()) : [],
  operations: document ? document.operations().all().map((o) => `${o.action()} ${o.id()}`) : [],
  diagnostics: diagnostics.map((d) => ({ severity: d.severity, code: d.code, message: d.message, path: d.path })),
}, null, 2));
process.exit(document !== undefined && errors.length === 0 ? 0 : 1);
