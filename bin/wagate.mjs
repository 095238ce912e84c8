#!/usr/bin/env node
// Entry point of the `wagate` command. The sources are TypeScript, loaded through
// tsx's ESM hooks: one code path for `npm start`, `npx wagate` and the tests.
// The Node.js version is checked first, before anything else is loaded, so an
// old Node.js ends in one line rather than in a loader's stack trace.
import { readFileSync } from 'node:fs';

const required = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).engines.node;
const wanted = required.replace(/^>=\s*/, '').split('.').map(Number);
const have = process.versions.node.split('.').map(Number);
let older = false;
for (let i = 0; i < wanted.length; i++) {
  const h = have[i] || 0;
  if (h !== wanted[i]) {
    older = h < wanted[i];
    break;
  }
}
if (older) {
  process.stderr.write(`wagate: Node.js ${required.replace(/^>=\s*/, '')} or newer is required, this is ${process.versions.node} (install a newer Node.js, e.g. from nodejs.org or your package manager)\n`);
  process.exit(1);
}

const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv.slice(2));
