import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat, copyFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';

/**
 * Where inbound media files are kept (docs/media.md): the local filesystem
 * under WAGATE_DATA_DIR, or an S3-compatible bucket. Keys are
 * `<tenant id>/<media row id>`, so a tenant's files share one prefix that
 * its deletion removes whole; nothing is ever read by a key that a request
 * gave: the API looks the key up in the tenant's own media row.
 */
export interface MediaStore {
  /** Stores a finished local file under `key` (the file may be moved away). */
  putFile(key: string, file: string, size: number, contentType: string): Promise<void>;
  /** A stored file as a stream, or null when there is none. */
  open(key: string): Promise<{ body: Readable; size: number } | null>;
  /** Removes these keys; a key already gone is no error. */
  remove(keys: readonly string[]): Promise<void>;
  /** Removes every file of a tenant. */
  removeTenant(tenantId: string): Promise<void>;
  close(): Promise<void>;
}

const KEY = /^(\d{1,18})\/(\d{1,18})$/;

/** The key of a media row's file. */
export function mediaKey(tenantId: string, mediaId: string): string {
  const key = `${tenantId}/${mediaId}`;
  if (!KEY.test(key)) throw new TypeError(`not a media key: ${key}`);
  return key;
}

/** Throws unless `key` is one that mediaKey makes: no path can climb out of the store. */
export function checkKey(key: string): void {
  if (!KEY.test(key)) throw new TypeError(`not a media key: ${key}`);
}

/**
 * Files under `<root>/<tenant id>/<media id>`. A file arrives by rename
 * (same filesystem) or copy, so a reader never sees half a file.
 */
export class FileMediaStore implements MediaStore {
  constructor(private readonly root: string) {}

  private pathOf(key: string): string {
    checkKey(key);
    return path.join(this.root, key);
  }

  async putFile(key: string, file: string, _size: number, _contentType: string): Promise<void> {
    const dest = this.pathOf(key);
    await mkdir(path.dirname(dest), { recursive: true, mode: 0o700 });
    try {
      await rename(file, dest);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      const part = `${dest}.part`;
      await copyFile(file, part);
      await rename(part, dest);
      await unlink(file).catch(() => {});
    }
  }

  async open(key: string): Promise<{ body: Readable; size: number } | null> {
    const p = this.pathOf(key);
    try {
      const s = await stat(p);
      return { body: createReadStream(p), size: s.size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async remove(keys: readonly string[]): Promise<void> {
    await Promise.all(keys.map((k) => rm(this.pathOf(k), { force: true })));
  }

  async removeTenant(tenantId: string): Promise<void> {
    if (!/^\d{1,18}$/.test(tenantId)) throw new TypeError(`not a tenant id: ${tenantId}`);
    await rm(path.join(this.root, tenantId), { recursive: true, force: true });
  }

  async close(): Promise<void> {}
}
