import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { messagesValue, notification, postWebhook, textMessage, textNotification } from '../support/webhooks.ts';
import { MAX_UPDATES_PER_NOTIFICATION } from '../../src/webhook/normalize.ts';
import { ingestOnly, Rows } from './rows.ts';
import { p99 } from '../support/percentile.ts';

const FLOOD_SECRET = 'flood-own-app-secret';

/** A notification of `n` text messages from `senders` customers. */
function bulk(phoneNumberId: string, n: number, senders = 50, tag = 'x') {
  const messages = Array.from({ length: n }, (_, i) => textMessage(`1555${tag}${String(i % senders).padStart(6, '0')}`, `flood ${i}`));
  return notification({ value: messagesValue(phoneNumberId, messages) });
}

describe('one tenant flooding its own-app webhook', () => {
  let gw: TestGateway;
  let rows: Rows;
  let floodPath: string;
  let floodPid: string;
  let calmPid: string;

  beforeAll(async () => {
    gw = await startTestGateway(ingestOnly());
    rows = await Rows.open(gw.dbUrl);
    const flood = await provisionTenant(gw, { name: 'Flood', channel: { appSecret: FLOOD_SECRET, verifyToken: 'flood-token' } });
    floodPath = `/webhooks/whatsapp/${flood.channel.id}`;
    floodPid = flood.phoneNumberId;
    ({ phoneNumberId: calmPid } = await provisionTenant(gw, { name: 'Calm' }));
  });
  afterAll(async () => {
    await rows?.close();
    await gw?.stop();
  });

  it(`refuses a notification of more than ${MAX_UPDATES_PER_NOTIFICATION} updates with 413 and stores nothing`, async () => {
    const before = await rows.counts();
    const body = bulk(floodPid, MAX_UPDATES_PER_NOTIFICATION + 1, 50, 'a');
    const res = await postWebhook(gw.url, body, { secret: FLOOD_SECRET, path: floodPath });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.text)).toEqual({ error: { code: 'too_many_updates', message: expect.stringContaining(String(MAX_UPDATES_PER_NOTIFICATION)) } });
    expect(await rows.counts()).toEqual(before);
  });

  it('counts statuses and messages together against the cap', async () => {
    const before = await rows.counts();
    const half = MAX_UPDATES_PER_NOTIFICATION / 2;
    const messages = Array.from({ length: half }, (_, i) => textMessage(`1555b${String(i).padStart(6, '0')}`, 'hi'));
    const statuses = Array.from({ length: half + 1 }, (_, i) => ({ id: `wamid.none${i}`, status: 'delivered', timestamp: '1700000000', recipient_id: '15550000000' }));
    const body = notification(
      { value: messagesValue(floodPid, messages) },
      { value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '1', phone_number_id: floodPid }, statuses } },
    );
    const res = await postWebhook(gw.url, body, { secret: FLOOD_SECRET, path: floodPath });
    expect(res.status).toBe(413);
    expect(await rows.counts()).toEqual(before);
  });

  it('stores a notification of exactly the cap', async () => {
    const body = bulk(floodPid, MAX_UPDATES_PER_NOTIFICATION, 20, 'c');
    const res = await postWebhook(gw.url, body, { secret: FLOOD_SECRET, path: floodPath });
    expect(res.status).toBe(200);
    const [{ n }] = await rows.query<{ n: number }>(`SELECT count(*)::int AS n FROM messages WHERE body LIKE 'flood %' AND wamid = ANY($1)`, [
      (body.entry[0].changes[0].value as { messages: { id: string }[] }).messages.map((m) => m.id),
    ]);
    expect(n).toBe(MAX_UPDATES_PER_NOTIFICATION);
  });

  it("keeps another tenant's acknowledgements within 3x of their time without the flood", async () => {
    const calmRound = async (count: number, tag: string) => {
      const times: number[] = [];
      for (let i = 0; i < count; i++) {
        const n = textNotification(calmPid, `1555calm${tag}${i % 5}`, `calm ${tag} ${i}`);
        const started = performance.now();
        const res = await postWebhook(gw.url, n.body);
        times.push(performance.now() - started);
        expect(res.status).toBe(200);
      }
      return times;
    };
    await calmRound(20, 'warm');
    const quiet = await calmRound(150, 'q');

    // Four clients of the flooding tenant's own app post full notifications
    // from a process of their own (as Meta's servers are not the gateway's).
    const flooder = spawn(process.execPath, [fileURLToPath(new URL('../support/flooder.mjs', import.meta.url)), gw.url + floodPath, FLOOD_SECRET, floodPid, '4', String(MAX_UPDATES_PER_NOTIFICATION)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: flooder.stdout! })[Symbol.asyncIterator]();
    let flooded: number[];
    let floodStatuses: string;
    try {
      expect((await lines.next()).value).toBe('flooding');
      flooded = await calmRound(150, 'f');
      flooder.stdin!.write('report\n');
      floodStatuses = (await lines.next()).value as string;
    } finally {
      flooder.kill('SIGKILL');
    }

    const quietP99 = p99(quiet);
    const floodedP99 = p99(flooded);
    console.log(`calm tenant ack p99: ${quietP99.toFixed(1)} ms quiet, ${floodedP99.toFixed(1)} ms under the flood; flood answers ${floodStatuses}`);
    expect(JSON.parse(floodStatuses)['200']).toBeGreaterThanOrEqual(1);
    expect(floodedP99).toBeLessThanOrEqual(3 * quietP99);
  }, 180_000);
});
