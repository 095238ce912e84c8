import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_START_HOOK_MS, startSandboxProcess, type SandboxProcess } from '../browser/sandboxProcess.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The README's shell block under "The operator API", as a reader would paste it. */
async function operatorApiExample(): Promise<string> {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## The operator API'));
  const block = /```sh\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error('no sh block under "The operator API" in README.md');
  return block[1];
}

function bash(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe("the README's operator API example, pasted in order against the sandbox", () => {
  let sandbox: SandboxProcess;
  beforeAll(async () => {
    sandbox = await startSandboxProcess();
  }, SANDBOX_START_HOOK_MS);
  afterAll(async () => {
    await sandbox?.stop();
  });

  it('provisions, writes as a customer, pauses, answers by hand and resumes, every call answered without an error', async () => {
    const example = await operatorApiExample();
    // Only the two lines a reader fills in change: the admin key printed at start, and where the sandbox listens.
    expect(example).toMatch(/^ADMIN=wgk_admin_….*$/m);
    expect(example).toMatch(/^BASE=http:\/\/localhost:3000$/m);
    const script = example
      .replace(/^ADMIN=.*$/m, `ADMIN=${sandbox.adminKey}`)
      .replace(/^BASE=.*$/m, `BASE=${sandbox.url}`)
      .concat('\necho\necho "ids: tenant=$TENANT key=${KEY:0:4} spare=$SPARE conversation=$CONV"\n');
    const run = await bash(script);
    expect(run.stderr).toBe('');
    const ids = /ids: tenant=(\d+) key=(\S+) spare=(\d+) conversation=(\d+)$/m.exec(run.stdout);
    expect(ids, run.stdout).not.toBeNull();
    expect(ids![2]).toBe('wgk_');
    // Every answer was a success: no error body anywhere.
    expect(run.stdout).not.toMatch(/"error":\{/);
    // The manual send went out and paused the conversation for 60 minutes; the resume ended the pause.
    expect(run.stdout).toContain('"text":"Hi, Sam here."');
    expect(run.stdout).toMatch(/"paused":true,"pausedUntil":"/);
    expect(run.stdout).toContain('"revokedAt":"');
    expect(run.stdout).toMatch(/"month":"\d{4}-\d{2}","count":\d+,"limit":1000/);
    // The customer's message is in the conversation the example took from the list.
    expect(run.stdout).toContain('Hello, are you open today?');
  }, 120_000);
});
