import { lstat, opendir, unlink } from 'node:fs/promises';
import path from 'node:path';

/**
 * How long a spool file must have gone unchanged before a sweep may remove it.
 * A file another live process still works on is younger: a download keeps
 * writing it, and the lane takes a media row left pending this long by another
 * process for abandoned (src/media/lane.ts), so its file is too.
 */
export const SPOOL_STALE_MS = 120_000;
/** Entries one sweep looks at, at most, so a huge leftover directory cannot hold up a start. */
export const SPOOL_SWEEP_MAX = 10_000;

/**
 * Removes the spool files a crash left behind: regular files last changed
 * before `before` and at least SPOOL_STALE_MS ago. Folders, links and
 * anything else are left alone; a missing directory is nothing to do.
 * Answers how many files were removed.
 */
export async function sweepSpool(dir: string, before: Date, opts: { now?: number; max?: number } = {}): Promise<number> {
  const cutoff = Math.min(before.getTime(), (opts.now ?? Date.now()) - SPOOL_STALE_MS);
  let entries;
  try {
    entries = await opendir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  let seen = 0;
  let removed = 0;
  for await (const e of entries) {
    if (++seen > (opts.max ?? SPOOL_SWEEP_MAX)) break;
    if (!e.isFile()) continue;
    const file = path.join(dir, e.name);
    try {
      const st = await lstat(file);
      if (!st.isFile() || st.mtimeMs >= cutoff) continue;
      await unlink(file);
      removed++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return removed;
}
