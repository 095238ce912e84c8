import { execFile, spawn } from 'node:child_process';
import { chmod, cp, lstat, mkdir, mkdtemp, readdir, readlink, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/db/embedded.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const isRoot = process.getuid?.() === 0;

const sh = (file: string, args: string[]) =>
  new Promise<void>((resolve, reject) => execFile(file, args, (err, _o, stderr) => (err ? reject(new Error(`${file} ${args.join(' ')}: ${stderr}`)) : resolve())));

/**
 * A checkout of this repository inside `home`: the sources copied, node_modules
 * hard-linked file by file (a real folder tree inside `home`, as `npm ci` makes
 * it; fast, and no symbolic link that would lead the server out of the private
 * folder), or copied when hard links cannot cross file systems.
 */
async function checkoutInto(home: string): Promise<string> {
  const dir = path.join(home, 'wagate');
  await mkdir(dir);
  for (const part of ['bin', 'src', 'package.json', 'tsconfig.json']) await cp(path.join(REPO, part), path.join(dir, part), { recursive: true });
  const modules = await realpath(path.join(REPO, 'node_modules'));
  await sh('cp', ['-al', modules, path.join(dir, 'node_modules')]).catch(() => sh('cp', ['-a', modules, path.join(dir, 'node_modules')]));
  return dir;
}

// As root, `git clone … && npm ci && npm start` in /root (mode 0700): the server
// runs as the OS user postgres, who cannot enter the checkout.
describe('npm start as root in a private home folder', () => {
  let home: string;
  let system: string;
  beforeAll(async () => {
    if (!isRoot) return;
    home = await mkdtemp(path.join(tmpdir(), 'wagate-home-'));
    system = await mkdtemp(path.join(tmpdir(), 'wagate-system-'));
    await chmod(system, 0o755);
  });
  afterAll(async () => {
    for (const d of [home, system]) if (d) await rm(d, { recursive: true, force: true });
  });

  const title = 'starts the sandbox and answers /readyz';
  (isRoot ? it : it.skip)(isRoot ? title : `${title} (skipped: only root meets this case; run the tests as root)`, async () => {
    expect((await stat(home)).mode & 0o777).toBe(0o700);
    const checkout = await checkoutInto(home);
    const port = await freePort();
    const systemDir = path.join(system, 'lib');
    const child = spawn(process.execPath, ['bin/wagate.mjs', 'start', '--sandbox'], {
      cwd: checkout,
      env: { PATH: process.env.PATH ?? '', HOME: home, PORT: String(port), WAGATE_EMBEDDED_PG_DIR: systemDir, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        // The banner goes to stderr: stdout carries JSON lines only.
        child.stderr.on('data', (d) => {
          stderr += d;
          if (stderr.includes('wagate sandbox is running')) resolve();
        });
        void exited.then((code) => reject(new Error(`wagate start exited ${code} before it was ready: ${stderr}`)));
      });
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
      // The cluster sits where the server's user can reach it, linked from the data directory.
      const link = path.join(checkout, 'data', 'postgres');
      expect((await lstat(link)).isSymbolicLink()).toBe(true);
      expect(await readlink(link)).toMatch(new RegExp(`^${systemDir}/clusters/cluster-[^/]+/postgres$`));
      expect((await stat(path.join(checkout, 'data', 'postgres-credentials.json'))).mode & 0o777).toBe(0o600);
      // And the server runs from a copy of the binaries there.
      expect((await readdir(systemDir)).filter((f) => f.startsWith('postgres-'))).toEqual([expect.stringMatching(new RegExp(`^postgres-.+-${process.platform}-${process.arch}$`))]);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stderr).not.toMatch(/\n\s+at /);
    // A first start copies the server's binaries and makes a cluster: minutes on a busy machine.
  }, 240_000);
});
