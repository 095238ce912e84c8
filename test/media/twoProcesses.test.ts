import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { startCloudApiSimulator, type CloudApiSimulator } from '../../src/sandbox/cloudApiSimulator.ts';
import { freshDatabase } from '../support/db.ts';
import { provisionTenant } from '../support/gateway.ts';
import { eventually, startPipeline, type PipelineHarness } from '../support/pipeline.ts';
import { messagesValue, notification, now, postWebhook, textNotification, wamid } from '../support/webhooks.ts';
import { oggOpus } from './fixtures.ts';

describe('a media message between two processes', () => {
  let model: FakeModel;
  let cloud: CloudApiSimulator;
  let a: PipelineHarness;
  let b: PipelineHarness;
  let dataDir: string;

  beforeAll(async () => {
    const dbUrl = await freshDatabase();
    dataDir = await mkdtemp(path.join(tmpdir(), 'wagate-media-two-'));
    model = await startFakeModel();
    cloud = await startCloudApiSimulator({ statusDelaysMs: null });
    const env = { WAGATE_DATA_DIR: dataDir, OPENAI_TRANSCRIPTION_MODEL: 'whisper-test' };
    a = await startPipeline({ dbUrl, model, cloud, env });
    b = await startPipeline({ dbUrl, model, cloud, env });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await cloud?.close();
    await model?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('the process holding the conversation waits for the outcome of the one that ingested it: one download, one transcription', async () => {
    const { phoneNumberId } = await provisionTenant(a.gw, { agent: { provider: 'openai', coalesce: 'restart' } });
    const from = '15550500001';
    const audio = oggOpus(5000);
    const shelved = cloud.media.add(audio, { mime: 'audio/ogg' });
    model.setLatency(1_500);
    model.setTranscriptionLatency(800);
    const transcriptions = model.transcriptions.length;
    const downloads = cloud.media.counts.downloads;
    try {
      // Process A takes the conversation with a text and is in the model call...
      const chats = model.requests.length;
      await postWebhook(a.gw.url, textNotification(phoneNumberId, from, 'hello').body);
      await eventually(() => model.requests.length > chats, 10_000, 'the first model call');
      // ...when the voice note reaches process B.
      const id = wamid();
      const answered = cloud.once('send', (e) => e.to === from && e.body.includes('transcript:'), 20_000);
      const res = await postWebhook(b.gw.url, notification({ value: messagesValue(phoneNumberId, [{ from, id, timestamp: now(), type: 'audio', audio: { id: shelved.id, mime_type: 'audio/ogg', voice: true } }]) }));
      expect(res.status).toBe(200);
      const s = await answered;
      expect(s.body).toContain(`transcript: transcript of voice.ogg (${audio.length} bytes)`);
    } finally {
      model.setLatency(0);
      model.setTranscriptionLatency(0);
    }
    expect(cloud.media.counts.downloads - downloads).toBe(1);
    expect(model.transcriptions.length - transcriptions).toBe(1);
  });
});
