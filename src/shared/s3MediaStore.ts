import { createReadStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { checkKey, type MediaStore } from './mediaStore.ts';

/** An S3-compatible bucket (WAGATE_MEDIA_S3_*); credentials come from the standard AWS variables or files. */
export interface S3MediaStoreOptions {
  bucket: string;
  /** Every key starts with this (e.g. `wagate/`), so one bucket can serve several deployments. */
  prefix: string;
  region: string;
  /** A non-AWS endpoint (MinIO, R2, Ceph …); path-style addressing is used with it. */
  endpoint: string | null;
  /** Explicit credentials (tests); otherwise the SDK's default chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/**
 * Media in an S3-compatible bucket. A file is uploaded from the local spool
 * file with its length known, so the upload streams and never holds the file
 * in memory.
 */
export class S3MediaStore implements MediaStore {
  private readonly client: S3Client;

  constructor(private readonly opts: S3MediaStoreOptions) {
    this.client = new S3Client({
      region: opts.region,
      // Checksums only where S3 requires them: many S3-compatible servers store the SDK's
      // default aws-chunked upload (with its checksum trailer) as the object's bytes.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: true } : {}),
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
    });
  }

  private keyOf(key: string): string {
    checkKey(key);
    return this.opts.prefix + key;
  }

  async putFile(key: string, file: string, size: number, contentType: string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({ Bucket: this.opts.bucket, Key: this.keyOf(key), Body: createReadStream(file), ContentLength: size, ContentType: contentType }),
    );
    await unlink(file).catch(() => {});
  }

  async open(key: string): Promise<{ body: Readable; size: number } | null> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: this.keyOf(key) }));
      return { body: out.Body as Readable, size: Number(out.ContentLength ?? 0) };
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === 'NoSuchKey' || name === 'NotFound') return null;
      throw err;
    }
  }

  async remove(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      if (chunk.length === 0) continue;
      await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.opts.bucket, Delete: { Objects: chunk.map((k) => ({ Key: this.keyOf(k) })), Quiet: true } }),
      );
    }
  }

  async removeTenant(tenantId: string): Promise<void> {
    if (!/^\d{1,18}$/.test(tenantId)) throw new TypeError(`not a tenant id: ${tenantId}`);
    const Prefix = `${this.opts.prefix}${tenantId}/`;
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix, ContinuationToken: token }));
      const objects = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (objects.length > 0) await this.client.send(new DeleteObjectsCommand({ Bucket: this.opts.bucket, Delete: { Objects: objects, Quiet: true } }));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
