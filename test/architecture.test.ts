import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
  cycle?: { name: string }[];
}

/**
 * The layering rule of docs/architecture.md, checked by dependency-cruiser
 * with the rules in .dependency-cruiser.cjs: the message path and the ground
 * floor never import the floors above them, only the command line imports
 * src/app, nothing shipped imports the tests, and there is no import cycle
 * (type-only imports included).
 */
describe('architecture', () => {
  it('has no import cycle and no import that points up a floor', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [path.join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs'), 'src', 'bench', 'bin', '--config', '.dependency-cruiser.cjs', '--output-type', 'json'],
      { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 },
    );
    const result = JSON.parse(stdout) as { summary: { violations: Violation[]; totalCruised: number } };
    const shown = result.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.cycle ? v.cycle.map((c) => c.name).join(' → ') : v.to}`);
    expect(shown).toEqual([]);
    // The rules saw the code: src, bench and bin, over a hundred modules.
    expect(result.summary.totalCruised).toBeGreaterThan(100);
  });
});
