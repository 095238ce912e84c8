import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, provisionTenant } from '../support/gateway.ts';
import { sqlClient } from '../support/db.ts';
import { eventually, startPipeline, type PipelineHarness } from '../support/pipeline.ts';
import { messagesValue, notification, now, postWebhook, textNotification, wamid } from '../support/webhooks.ts';
import { oggOpus } from './fixtures.ts';

describe('turns and the media lane', () => {
  let h: PipelineHarness;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'wagate-media-wait-'));
    // One media slot, a slow transcription endpoint, and turns that wait at most 1.5 s for media.
    h = await startPipeline({ env: { WAGATE_DATA_DIR: dataDir, OPENAI_TRANSCRIPTION_MODEL: 'whisper-test', WAGATE_MEDIA_CONCURRENCY: '1', WAGATE_MEDIA_WAIT_MS: '1500' } });
  });
  afterAll(async () => {
    await h?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  function voiceNote(phoneNumberId: string, from: string) {
    const shelved = h.cloud.media.add(oggOpus(), { mime: 'audio/ogg' });
    const id = wamid();
    return { id, body: notification({ value: messagesValue(phoneNumberId, [{ from, id, timestamp: now(), type: 'audio', audio: { id: shelved.id, mime_type: 'audio/ogg', voice: true } }]) }) };
  }

  it('a text turn never waits behind media: answered while voice notes are still being transcribed', async () => {
    const { phoneNumberId } = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    h.model.setTranscriptionLatency(6_000);
    try {
      // Two voice notes fill the one media slot and its queue for seconds.
      for (const from of ['15550300001', '15550300002']) expect((await postWebhook(h.gw.url, voiceNote(phoneNumberId, from).body)).status).toBe(200);
      await eventually(() => h.model.transcriptions.length >= 1, 10_000, 'the first transcription started');
      const started = Date.now();
      const sent = h.cloud.once('send', (e) => e.to === '15550300009', 10_000);
      await postWebhook(h.gw.url, textNotification(phoneNumberId, '15550300009', 'just text').body);
      expect((await sent).body).toBe('echo: just text');
      // Answered long before either transcription could have finished (6 s each, one at a time).
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(h.model.transcriptions.length).toBe(1);
    } finally {
      h.model.setTranscriptionLatency(0);
    }
  });

  it('a turn waits for its media only so long: then the agent gets the text form, and the file says it timed out', { timeout: 60_000 }, async () => {
    const { phoneNumberId, key } = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    h.model.setTranscriptionLatency(4_000);
    try {
      const note = voiceNote(phoneNumberId, '15550300020');
      const sent = h.cloud.once('send', (e) => e.to === '15550300020', 20_000);
      await postWebhook(h.gw.url, note.body);
      expect((await sent).body).toBe('echo: [audio]');
      const c = await sqlClient(h.gw.dbUrl);
      try {
        const row = await eventually(async () => (await c.query(`SELECT media.status, media.error, m.conversation_id::text AS conv FROM media JOIN messages m ON m.id = media.message_id WHERE m.wamid = $1`, [note.id])).rows[0], 10_000, 'the media row');
        const view = async () => (await api(h.gw, 'GET', `/api/conversations/${row.conv}/messages`, undefined, key)).body.items.find((x: any) => x.wamid === note.id);
        // Until the transcription lands, the message shows why its turn did not wait.
        expect((await view()).media.file).toMatchObject({ status: 'pending', error: 'timed_out' });
        // Then the file is ready with its transcript, for the history of later turns.
        // (Behind the first test's slow voice notes in the one media slot.)
        await eventually(async () => (await view()).media.file.status === 'ready', 40_000, 'the transcript');
        expect((await view()).media.file).toMatchObject({ error: null, transcript: expect.stringContaining('transcript of') });
      } finally {
        await c.end();
      }
    } finally {
      h.model.setTranscriptionLatency(0);
    }
  });
});
