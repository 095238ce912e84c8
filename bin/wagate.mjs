#!/usr/bin/env node
// Entry point of the `wagate` command. The sources are TypeScript, loaded through
// tsx's ESM hooks: one code path for `npm start`, `npx wagate` and the tests.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv.slice(2));
