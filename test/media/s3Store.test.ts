import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
// s3rver ships no types: a local S3-compatible server for tests.
// @ts-expect-error no declaration file
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3MediaStore } from '../../src/shared/s3MediaStore.ts';
import { api, provisionTenant } from '../support/gateway.ts';
import { eventually, startPipeline, type PipelineHarness } from '../support/pipeline.ts';
import { messagesValue, notification, now, postWebhook, wamid } from '../support/webhooks.ts';
import { sqlClient } from '../support/db.ts';
import { tinyPng } from './fixtures.ts';

const BUCKET = 'wagate-media';

describe('the S3 media store, against a local S3-compatible server', () => {
  let server: { run(): Promise<AddressInfo>; close(): Promise<void> };
  let dir: string;
  let endpoint: string;
  const store = () => new S3MediaStore({ bucket: BUCKET, prefix: 'test/', region: 'us-east-1', endpoint, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'wagate-s3-'));
    server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: path.join(dir, 'bucket'), configureBuckets: [{ name: BUCKET }] });
    const addr = await server.run();
    endpoint = `http://127.0.0.1:${addr.port}`;
  });
  afterAll(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('stores a file by streaming it, opens, removes it and a whole tenant', async () => {
    const s = store();
    try {
      const put = async (key: string, text: string) => {
        const file = path.join(dir, `spool-${key.replace('/', '-')}`);
        await writeFile(file, text);
        await s.putFile(key, file, Buffer.byteLength(text), 'text/plain');
      };
      await put('7/1', 'one');
      await put('7/2', 'two');
      await put('8/3', 'three');
      const opened = await s.open('7/1');
      expect(opened?.size).toBe(3);
      const chunks: Buffer[] = [];
      for await (const c of opened!.body) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe('one');
      await s.remove(['7/1']);
      expect(await s.open('7/1')).toBeNull();
      await s.removeTenant('7');
      expect(await s.open('7/2')).toBeNull();
      expect(await s.open('8/3')).not.toBeNull();
      // Keys are only ever the store's own: nothing can climb out of a tenant's prefix.
      await expect(s.open('7/../8/3')).rejects.toThrow(/not a media key/);
    } finally {
      await s.close();
    }
  });

  describe('behind the gateway', () => {
    let h: PipelineHarness;
    let dataDir: string;
    beforeAll(async () => {
      dataDir = await mkdtemp(path.join(tmpdir(), 'wagate-s3-gw-'));
      h = await startPipeline({ env: { WAGATE_DATA_DIR: dataDir }, mediaStore: store(), pipeline: { housekeeping: { intervalMs: 200 } } });
    });
    afterAll(async () => {
      await h?.close();
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    });

    it("keeps a customer's image in the bucket, serves it to its tenant, and removes it with the tenant", async () => {
      const { tenant, phoneNumberId, key } = await provisionTenant(h.gw, { agent: { provider: 'demo' } });
      const png = await tinyPng();
      const shelved = h.cloud.media.add(png, { mime: 'image/png' });
      const id = wamid();
      await postWebhook(h.gw.url, notification({ value: messagesValue(phoneNumberId, [{ from: '15550400001', id, timestamp: now(), type: 'image', image: { id: shelved.id, mime_type: 'image/png', sha256: shelved.sha256 } }]) }));
      const c = await sqlClient(h.gw.dbUrl);
      try {
        const row = await eventually(async () => (await c.query(`SELECT media.id::text, storage_key FROM media JOIN messages m ON m.id = media.message_id WHERE m.wamid = $1 AND media.status = 'ready'`, [id])).rows[0], 20_000, 'the image stored');
        expect(row.storage_key).toBe(`${tenant.id}/${row.id}`);
        const res = await fetch(`${h.gw.url}/api/media/${row.id}`, { headers: { authorization: `Bearer ${key}` } });
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('image/png');
        expect(Buffer.from(await res.arrayBuffer()).equals(png)).toBe(true);
        expect((await api(h.gw, 'DELETE', `/api/tenants/${tenant.id}`)).status).toBeLessThan(300);
        await eventually(async () => (await h.gw.mediaStore.open(row.storage_key)) === null, 20_000, 'the object removed with the tenant');
        await eventually(async () => (await c.query(`SELECT 1 FROM media WHERE id = $1`, [row.id])).rowCount === 0, 20_000, 'the row removed');
      } finally {
        await c.end();
      }
    });
  });
});
