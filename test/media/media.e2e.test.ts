import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, provisionTenant, TEST_ADMIN_KEY } from '../support/gateway.ts';
import { sqlClient } from '../support/db.ts';
import { eventually, startPipeline, type PipelineHarness } from '../support/pipeline.ts';
import { messagesValue, notification, now, postWebhook, wamid } from '../support/webhooks.ts';
import type { ShelvedMediaOptions } from '../../src/sandbox/simulatorMedia.ts';
import { MediaBlock, OUTBOUND_NOTE } from '../../src/dashboard/app/mediaView.ts';
import { minimalPdf, mp4Header, oggOpus, stickerWebp, tinyPng } from './fixtures.ts';

describe('inbound media, end to end through the Cloud API simulator and the fake model', () => {
  let h: PipelineHarness;
  let dataDir: string;
  let seq = 0;
  const customer = () => `1555020${String(seq++).padStart(4, '0')}`;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'wagate-media-'));
    h = await startPipeline({ env: { WAGATE_DATA_DIR: dataDir, OPENAI_TRANSCRIPTION_MODEL: 'whisper-test' }, pipeline: { mediaBackoffMs: [20, 40] } });
  });
  afterAll(async () => {
    await h?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** Shelves `bytes` in the simulator and posts the customer's media message; returns the customer and the wamid. */
  async function sendMedia(phoneNumberId: string, type: string, bytes: Buffer, opts: ShelvedMediaOptions & { caption?: string; filename?: string; sha256?: string; voice?: boolean }) {
    const shelved = h.cloud.media.add(bytes, opts);
    const from = customer();
    const id = wamid();
    const media: Record<string, unknown> = { id: shelved.id, mime_type: opts.mime, sha256: opts.sha256 ?? shelved.sha256Base64 };
    if (opts.caption) media.caption = opts.caption;
    if (opts.filename) media.filename = opts.filename;
    if (opts.voice) media.voice = true;
    const res = await postWebhook(h.gw.url, notification({ value: messagesValue(phoneNumberId, [{ from, id, timestamp: now(), type, [type]: media }]) }));
    expect(res.status).toBe(200);
    return { from, wamid: id, shelved };
  }

  /** The customer's message as the API shows it, once its media is settled. */
  async function settledMessage(tenantKey: string, wamidOf: string) {
    const c = await sqlClient(h.gw.dbUrl);
    try {
      return await eventually(async () => {
        const r = await c.query(`SELECT id::text, conversation_id::text FROM messages WHERE wamid = $1`, [wamidOf]);
        if (!r.rows[0]) return null;
        const page = await api(h.gw, 'GET', `/api/conversations/${r.rows[0].conversation_id}/messages`, undefined, tenantKey);
        const m = page.body.items.find((x: any) => x.wamid === wamidOf);
        return m?.media?.file && m.media.file.status !== 'pending' ? m : null;
      }, 20_000, 'the media settled');
    } finally {
      await c.end();
    }
  }

  /** The user content of the chat request that answered `text` (a substring). */
  function chatUserContent(predicate: (content: any) => boolean): any {
    for (const r of h.model.requests) {
      if (r.path !== '/v1/chat/completions') continue;
      const user = r.body.messages.filter((m: any) => m.role === 'user');
      const hit = user.find((m: any) => predicate(m.content));
      if (hit) return hit.content;
    }
    return null;
  }
  const textOf = (c: any) => (typeof c === 'string' ? c : c.map((p: any) => p.text ?? '').join(''));

  it('a voice note is downloaded, kept, transcribed, and the agent answers its transcript', async () => {
    const { phoneNumberId, key } = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    h.model.scriptTranscription('where is my parcel');
    const audio = oggOpus(6000);
    const sent = h.cloud.once('send', (e) => e.body.includes('where is my parcel'), 20_000);
    const { wamid: w } = await sendMedia(phoneNumberId, 'audio', audio, { mime: 'audio/ogg; codecs=opus', voice: true, phoneNumberId });
    const s = await sent;
    // The fake endpoint gives a duration of a fraction of a second for these few bytes.
    expect(s.body).toBe(`echo: [audio, 0:00, ${Math.round(audio.length / 1024)} KB] transcript: where is my parcel`);
    const t = h.model.transcriptions.at(-1)!;
    expect(t.model).toBe('whisper-test');
    expect(t.bytes).toBe(audio.length);
    expect(t.authorization).toBe('Bearer sk-test');
    const m = await settledMessage(key, w);
    expect(m.media.file).toMatchObject({ status: 'ready', error: null, mimeType: 'audio/ogg', size: audio.length, transcript: 'where is my parcel', language: 'english' });
    // The file is served to its tenant, as the bytes it is, with the headers that keep a browser safe.
    const res = await fetch(`${h.gw.url}/api/media/${m.media.file.id}`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(audio)).toBe(true);
    expect(res.headers.get('content-type')).toBe('audio/ogg');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-disposition')).toMatch(/^inline; filename="audio-\d+\.ogg"/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('content-security-policy')).not.toMatch(/script-src/);
  });

  it("an image the business sent from its own app (an echo) is not fetched, and the dashboard says so instead of 'Fetching'", async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'demo' } });
    const from = customer();
    const shelved = h.cloud.media.add(await tinyPng(), { mime: 'image/png' });
    const id = wamid();
    const echo = { from: '15550100', to: from, id, timestamp: now(), type: 'image', image: { id: shelved.id, mime_type: 'image/png', sha256: shelved.sha256Base64, caption: 'our shop' } };
    const value = { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550100', phone_number_id: t.phoneNumberId }, message_echoes: [echo] };
    expect((await postWebhook(h.gw.url, notification({ field: 'smb_message_echoes', value }))).status).toBe(200);
    const conv = await eventually(async () => (await api(h.gw, 'GET', '/api/conversations', undefined, t.key)).body.items.find((c: any) => c.contact.waId === from));
    const [m] = (await api(h.gw, 'GET', `/api/conversations/${conv.id}/messages`, undefined, t.key)).body.items;
    expect(m).toMatchObject({ direction: 'outbound', type: 'image', text: 'our shop', media: { mimeType: 'image/png', file: null } });
    const c = await sqlClient(h.gw.dbUrl);
    try {
      expect((await c.query('SELECT count(*)::int AS n FROM media WHERE tenant_id = $1', [t.tenant.id])).rows[0].n).toBe(0);
    } finally {
      await c.end();
    }
    // The conversation view's block for this very message: never "Fetching the file…", which would stay forever.
    const notes = texts(MediaBlock({ m }));
    expect(notes).toContain(OUTBOUND_NOTE);
    expect(notes.join(' ')).not.toContain('Fetching');
  });

  it("another tenant's media is 404, like media that does not exist", async () => {
    const a = await provisionTenant(h.gw, { agent: { provider: 'demo' } });
    const b = await provisionTenant(h.gw, { agent: { provider: 'demo' } });
    const png = await tinyPng();
    const { wamid: w } = await sendMedia(a.phoneNumberId, 'image', png, { mime: 'image/png', caption: 'my bike' });
    const m = await settledMessage(a.key, w);
    const id = m.media.file.id;
    expect((await api(h.gw, 'GET', `/api/media/${id}`, undefined, a.key)).status).toBe(200);
    const other = await api(h.gw, 'GET', `/api/media/${id}`, undefined, b.key);
    expect(other.status).toBe(404);
    expect(other.body.error.code).toBe('not_found');
    expect((await api(h.gw, 'GET', `/api/media/999999999`, undefined, a.key)).status).toBe(404);
    expect((await api(h.gw, 'GET', `/api/media/../../etc`, undefined, a.key)).status).toBe(404);
    expect((await api(h.gw, 'GET', `/api/media/${id}`, undefined, null)).status).toBe(401);
  });

  it('an image reaches a vision model as an image content part, resized to a JPEG; without vision only its caption', async () => {
    const vision = await provisionTenant(h.gw, { agent: { provider: 'openai', vision: true } });
    const plain = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    const png = await tinyPng(2000, 1000);
    const before = h.model.imageParts.length;
    const sent = h.cloud.once('send', (e) => e.body.includes('broken handle'), 20_000);
    await sendMedia(vision.phoneNumberId, 'image', png, { mime: 'image/png', caption: 'broken handle' });
    await sent;
    const parts = h.model.imageParts.slice(before);
    expect(parts).toHaveLength(1);
    expect(parts[0]).toMatch(/^data:image\/jpeg;base64,/);
    const sharp = (await import('sharp')).default;
    const meta = await sharp(Buffer.from(parts[0].split(',')[1], 'base64')).metadata();
    expect(meta.format).toBe('jpeg');
    expect(Math.max(meta.width!, meta.height!)).toBe(1024);
    const content = chatUserContent((c) => Array.isArray(c) && textOf(c).includes('broken handle'));
    expect(content[0]).toEqual({ type: 'text', text: `[image, ${Math.round(png.length / 1024)} KB] broken handle` });
    expect(content[1].type).toBe('image_url');

    const n = h.model.imageParts.length;
    const sent2 = h.cloud.once('send', (e) => e.body.includes('scratched door'), 20_000);
    await sendMedia(plain.phoneNumberId, 'image', png, { mime: 'image/png', caption: 'scratched door' });
    expect((await sent2).body).toBe(`echo: [image, ${Math.round(png.length / 1024)} KB] scratched door`);
    expect(h.model.imageParts.length).toBe(n);
  });

  it("a PDF's text reaches the agent, bounded, with its page count; the dashboard view has name and size", async () => {
    const { phoneNumberId, key } = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    const pdf = minimalPdf('Invoice 4711 total 99 EUR', 'Page two terms');
    const sent = h.cloud.once('send', (e) => e.body.includes('Invoice 4711'), 20_000);
    const { wamid: w } = await sendMedia(phoneNumberId, 'document', pdf, { mime: 'application/pdf', filename: 'invoice.pdf', caption: 'please check' });
    const s = await sent;
    expect(s.body).toContain('[document invoice.pdf, application/pdf,');
    expect(s.body).toContain('2 pages]');
    expect(s.body).toContain('please check');
    expect(s.body).toContain('text: Invoice 4711 total 99 EUR');
    const m = await settledMessage(key, w);
    expect(m.media).toMatchObject({ filename: 'invoice.pdf', file: { status: 'ready', pages: 2, size: pdf.length, mimeType: 'application/pdf' } });
    const res = await fetch(`${h.gw.url}/api/media/${m.media.file.id}`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.headers.get('content-disposition')).toMatch(/^inline; filename="invoice.pdf"/);
  });

  it('a document that is not a PDF is named with its file name and type; a sticker and a video are kept', async () => {
    const { phoneNumberId, key } = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    const csv = Buffer.from('sku,qty\nA-1,3\n');
    const sent = h.cloud.once('send', (e) => e.body.includes('order.csv'), 20_000);
    const doc = await sendMedia(phoneNumberId, 'document', csv, { mime: 'text/csv', filename: 'order.csv' });
    expect((await sent).body).toBe(`echo: [document order.csv, text/csv, ${csv.length} B]`);
    const res = await fetch(`${h.gw.url}/api/media/${(await settledMessage(key, doc.wamid)).media.file.id}`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="order.csv"/);

    const sticker = await sendMedia(phoneNumberId, 'sticker', await stickerWebp(), { mime: 'image/webp' });
    expect((await settledMessage(key, sticker.wamid)).media.file).toMatchObject({ status: 'ready', mimeType: 'image/webp' });

    const video = Buffer.concat([mp4Header(), Buffer.alloc(2000, 3)]);
    const sentVideo = h.cloud.once('send', (e) => e.body.includes('the leak'), 20_000);
    const v = await sendMedia(phoneNumberId, 'video', video, { mime: 'video/mp4', caption: 'the leak' });
    expect((await sentVideo).body).toBe(`echo: [video, ${Math.round(video.length / 1024)} KB] the leak`);
    expect((await settledMessage(key, v.wamid)).media.file).toMatchObject({ status: 'ready', mimeType: 'video/mp4', size: video.length });
  });

  it('a file over the type\'s size limit is refused before download: too_large, and the agent is told', async () => {
    const { phoneNumberId, key } = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    const png = await tinyPng();
    const downloads = h.cloud.media.counts.downloads;
    const sent = h.cloud.once('send', (e) => e.body.includes('too_large'), 20_000);
    const { wamid: w } = await sendMedia(phoneNumberId, 'image', png, { mime: 'image/png', announcedSize: 6 * 1024 * 1024 });
    expect((await sent).body).toBe('echo: [image] not available: too_large');
    expect((await settledMessage(key, w)).media.file).toMatchObject({ status: 'failed', error: 'too_large' });
    expect(h.cloud.media.counts.downloads).toBe(downloads);
    const metrics = await (await fetch(`${h.gw.url}/metrics`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } })).text();
    expect(metrics).toMatch(new RegExp(`wagate_media_total\\{tenant="\\d+",kind="image",status="failed",error="too_large"\\} [1-9]`));
  });

  it("bytes that do not match the webhook's sha256 are refused: hash_mismatch, nothing served", async () => {
    const { phoneNumberId, key } = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    const { wamid: w } = await sendMedia(phoneNumberId, 'image', await tinyPng(), { mime: 'image/png', sha256: Buffer.alloc(32, 1).toString('base64') });
    const m = await settledMessage(key, w);
    expect(m.media.file).toMatchObject({ status: 'failed', error: 'hash_mismatch' });
    expect((await api(h.gw, 'GET', `/api/media/${m.media.file.id}`, undefined, key)).status).toBe(404);
  });

  it('bytes of another type than declared are refused: type_mismatch', async () => {
    const { phoneNumberId, key } = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    const { wamid: w } = await sendMedia(phoneNumberId, 'image', minimalPdf('not an image'), { mime: 'image/jpeg' });
    expect((await settledMessage(key, w)).media.file).toMatchObject({ status: 'failed', error: 'type_mismatch' });
  });

  it('an expired media URL is asked for again and the fresh one is used', async () => {
    const { phoneNumberId, key } = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    const expired = h.cloud.media.counts.expired;
    const { wamid: w } = await sendMedia(phoneNumberId, 'image', await tinyPng(), { mime: 'image/png', expiredUrls: 1 });
    expect((await settledMessage(key, w)).media.file).toMatchObject({ status: 'ready' });
    expect(h.cloud.media.counts.expired).toBe(expired + 1);
  });

  it('a failed transcription is visible, and the agent gets the text form', async () => {
    const { phoneNumberId, key } = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    h.model.scriptTranscription(400);
    const sent = h.cloud.once('send', (e) => e.body.includes('transcription_failed'), 20_000);
    const audio = oggOpus();
    const { wamid: w } = await sendMedia(phoneNumberId, 'audio', audio, { mime: 'audio/ogg', voice: true });
    expect((await sent).body).toBe(`echo: [audio, ${Math.round(audio.length / 1024)} KB] not available: transcription_failed`);
    expect((await settledMessage(key, w)).media.file).toMatchObject({ status: 'failed', error: 'transcription_failed' });
  });

  it('a tenant with transcriptionModel null keeps the voice note untranscribed', async () => {
    const { phoneNumberId, key } = await provisionTenant(h.gw, { agent: { provider: 'openai', transcriptionModel: null } });
    const before = h.model.transcriptions.length;
    const { wamid: w } = await sendMedia(phoneNumberId, 'audio', oggOpus(), { mime: 'audio/ogg', voice: true });
    expect((await settledMessage(key, w)).media.file).toMatchObject({ status: 'ready', transcript: null });
    expect(h.model.transcriptions.length).toBe(before);
  });

  it('erasing the contact removes their media files', async () => {
    const { phoneNumberId, key } = await provisionTenant(h.gw, { agent: { provider: 'demo' } });
    const { wamid: w } = await sendMedia(phoneNumberId, 'image', await tinyPng(), { mime: 'image/png' });
    const m = await settledMessage(key, w);
    const c = await sqlClient(h.gw.dbUrl);
    try {
      const r = await c.query(`SELECT storage_key, (SELECT contact_id::text FROM conversations WHERE id = m.conversation_id) AS contact FROM media JOIN messages m ON m.id = media.message_id WHERE media.id = $1`, [m.media.file.id]);
      const storageKey = r.rows[0].storage_key as string;
      expect(await h.gw.mediaStore.open(storageKey)).not.toBeNull();
      const erased = await api(h.gw, 'DELETE', `/api/contacts/${r.rows[0].contact}`, undefined, key);
      expect(erased.status).toBe(200);
      await eventually(async () => (await h.gw.mediaStore.open(storageKey)) === null, 15_000, 'the file removed');
      await eventually(async () => (await c.query(`SELECT 1 FROM media WHERE id = $1`, [m.media.file.id])).rowCount === 0, 15_000, 'the row removed');
    } finally {
      await c.end();
    }
  });

  it("retention removes an old message's media file with it", async () => {
    const { tenant, phoneNumberId, key } = await provisionTenant(h.gw, { agent: { provider: 'demo' } });
    const { wamid: w } = await sendMedia(phoneNumberId, 'image', await tinyPng(), { mime: 'image/png' });
    const m = await settledMessage(key, w);
    expect((await api(h.gw, 'PATCH', `/api/tenants/${tenant.id}`, { retentionDays: 1 })).status).toBe(200);
    const c = await sqlClient(h.gw.dbUrl);
    try {
      const [row] = (await c.query(`SELECT storage_key FROM media WHERE id = $1`, [m.media.file.id])).rows;
      // The message is answered (its disposition set) and two days old.
      await eventually(async () => (await c.query(`SELECT 1 FROM messages WHERE wamid = $1 AND disposition IS NOT NULL`, [w])).rowCount === 1, 15_000, 'the turn settled');
      await c.query(`UPDATE messages SET created_at = now() - interval '2 days' WHERE tenant_id = $1`, [tenant.id]);
      const report = await h.gw.housekeeping.run();
      expect(report.messagesExpired).toBeGreaterThan(0);
      expect(report.mediaRemoved).toBeGreaterThanOrEqual(1);
      expect(await h.gw.mediaStore.open(row.storage_key)).toBeNull();
      expect((await c.query(`SELECT 1 FROM media WHERE id = $1`, [m.media.file.id])).rowCount).toBe(0);
      expect((await api(h.gw, 'GET', `/api/media/${m.media.file.id}`, undefined, key)).status).toBe(404);
    } finally {
      await c.end();
    }
  });
});

/** The text of a rendered (not mounted) Preact tree: every string in it, in order. */
function texts(node: unknown): string[] {
  if (node == null || typeof node === 'boolean') return [];
  if (typeof node === 'string' || typeof node === 'number') return [String(node)];
  if (Array.isArray(node)) return node.flatMap(texts);
  return texts((node as { props?: { children?: unknown } }).props?.children);
}
