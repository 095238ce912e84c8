import { access, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPOOL_STALE_MS, sweepSpool } from '../../src/media/spool.ts';
import { eventually, startPipeline, type PipelineHarness } from '../support/pipeline.ts';

const exists = (p: string) => access(p).then(() => true, () => false);

/** A file whose last change is `agoMs` before now. */
async function fileAged(file: string, agoMs: number): Promise<void> {
  await writeFile(file, 'left by a crash');
  const t = new Date(Date.now() - agoMs);
  await utimes(file, t, t);
}

describe('spool files left by a crash', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'wagate-spool-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('removes only regular files older than the start and unchanged for the stale time', async () => {
    const spool = path.join(dir, 'sweep');
    await mkdir(spool);
    await fileAged(path.join(spool, 'old'), 3_600_000);
    await fileAged(path.join(spool, 'recent'), 10_000); // another process may still work on it
    await mkdir(path.join(spool, 'folder'));
    await fileAged(path.join(spool, 'folder', 'inside'), 3_600_000);
    const target = path.join(dir, 'outside');
    await fileAged(target, 3_600_000);
    await symlink(target, path.join(spool, 'link'));
    const started = new Date();
    // Changed after the start; set, not left to the write: the kernel's file times are coarser than Date.now(),
    // so a file written right after the start can carry a time a few milliseconds before it.
    await fileAged(path.join(spool, 'after-start'), -1_000);

    expect(await sweepSpool(spool, started)).toBe(1);
    expect(await exists(path.join(spool, 'old'))).toBe(false);
    expect(await exists(path.join(spool, 'recent'))).toBe(true);
    expect(await exists(path.join(spool, 'folder', 'inside'))).toBe(true);
    expect(await exists(path.join(spool, 'link'))).toBe(true);
    expect(await exists(target)).toBe(true);
    expect(await exists(path.join(spool, 'after-start'))).toBe(true);

    // Once the stale time has passed, the file of a crash just before the start goes too; a file of after the start never.
    expect(await sweepSpool(spool, started, { now: Date.now() + SPOOL_STALE_MS })).toBe(1);
    expect(await exists(path.join(spool, 'recent'))).toBe(false);
    expect(await exists(path.join(spool, 'after-start'))).toBe(true);
  });

  it('looks at a bounded number of entries per sweep, and a missing directory is nothing to do', async () => {
    const spool = path.join(dir, 'bounded');
    await mkdir(spool);
    for (let i = 0; i < 5; i++) await fileAged(path.join(spool, `f${i}`), 3_600_000);
    expect(await sweepSpool(spool, new Date(), { max: 2 })).toBe(2);
    expect(await sweepSpool(spool, new Date())).toBe(3);
    expect(await sweepSpool(path.join(dir, 'missing'), new Date())).toBe(0);
  });

  describe('at the gateway start', () => {
    let h: PipelineHarness | undefined;
    afterAll(async () => {
      await h?.close();
    });

    it('the media lane removes what an earlier process left in WAGATE_DATA_DIR/media-spool', async () => {
      const dataDir = path.join(dir, 'data');
      const spool = path.join(dataDir, 'media-spool');
      await mkdir(spool, { recursive: true });
      await fileAged(path.join(spool, 'crashed-download'), 600_000);
      await fileAged(path.join(spool, 'peer-download'), 1_000);
      h = await startPipeline({ env: { WAGATE_DATA_DIR: dataDir } });
      await eventually(async () => !(await exists(path.join(spool, 'crashed-download'))), 20_000, 'the old spool file removed');
      expect(await exists(path.join(spool, 'peer-download'))).toBe(true);
    });
  });
});
