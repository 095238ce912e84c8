import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, provisionTenant } from '../support/gateway.ts';
import { eventually } from '../support/pipeline.ts';
import { postWebhook, textNotification } from '../support/webhooks.ts';
import { startApiGateway, type ApiHarness } from './harness.ts';

/** Writes customer messages until stopped (bounded: at most `max` messages, `ms` milliseconds), `lanes` at a time. */
function writer(h: ApiHarness, phoneNumberId: string, pick: (n: number) => string, opts = { lanes: 4, max: 600, ms: 20_000 }) {
  let stop = false;
  let written = 0;
  const until = Date.now() + opts.ms;
  const lanes = Array.from({ length: opts.lanes }, async () => {
    while (!stop && written < opts.max && Date.now() < until) {
      const n = written++;
      const res = await postWebhook(h.gw.url, textNotification(phoneNumberId, pick(n), `message ${n}`).body);
      if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
    }
  });
  return {
    get written() {
      return written;
    },
    async stop() {
      stop = true;
      await Promise.all(lanes);
    },
  };
}

describe('pagination under concurrent inserts', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiGateway({ statuses: false });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('a conversation walk lists every conversation that existed at its first page exactly once, while messages and customers keep coming', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'demo' } });
    const customers = Array.from({ length: 30 }, (_, i) => `1555200${String(i).padStart(4, '0')}`);
    await Promise.all(customers.map((c) => postWebhook(h.gw.url, textNotification(t.phoneNumberId, c, 'hi').body)));
    const all = async () => (await api(h.gw, 'GET', '/api/conversations?limit=200', undefined, t.key)).body.items.map((c: any) => c.id as string);
    await eventually(async () => (await all()).length === customers.length);

    // New messages to existing customers (they move to the top) and new customers, all through the real webhook.
    const w = writer(h, t.phoneNumberId, (n) => (n % 3 === 2 ? `1555300${String(n).padStart(4, '0')}` : customers[(n * 7) % customers.length]));
    // The walk is pinned to page 1's snapshot, taken between these two reads.
    let before = new Set<string>();
    let after = new Set<string>();
    const walked: string[] = [];
    try {
      await eventually(() => w.written > 10, 10_000, 'the writer to start');
      let cursor: string | null = null;
      let pages = 0;
      do {
        if (pages === 0) before = new Set(await all());
        const r: { status: number; body: any } = await api(h.gw, 'GET', `/api/conversations?limit=4${cursor ? `&cursor=${cursor}` : ''}`, undefined, t.key);
        expect(r.status).toBe(200);
        if (pages === 0) after = new Set(await all());
        walked.push(...r.body.items.map((c: any) => c.id));
        cursor = r.body.nextCursor;
        // Let the writer move conversations between pages.
        await new Promise((res) => setTimeout(res, 15));
      } while (cursor && ++pages < 200);
    } finally {
      await w.stop();
    }
    expect(w.written).toBeGreaterThan(20);
    expect(after.size).toBeGreaterThan(customers.length);
    // No repeats; nothing skipped of what existed before page 1; nothing created after it.
    expect(new Set(walked).size).toBe(walked.length);
    for (const id of before) expect(walked).toContain(id);
    for (const id of walked) expect(after.has(id)).toBe(true);
    // … and a new walk shows the customers who came later.
    expect((await all()).length).toBeGreaterThan(customers.length);
  });

  it('a message walk neither skips nor repeats while messages arrive in the same conversation', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'demo' } });
    const wa = '15554440000';
    for (let i = 0; i < 5; i++) await postWebhook(h.gw.url, textNotification(t.phoneNumberId, wa, `before ${i}`).body);
    const conv = (await api(h.gw, 'GET', '/api/conversations', undefined, t.key)).body.items[0];
    const w = writer(h, t.phoneNumberId, () => wa, { lanes: 3, max: 150, ms: 15_000 });
    const walked: string[] = [];
    try {
      await eventually(() => w.written > 5, 10_000, 'the writer to start');
      let cursor: string | null = null;
      let pages = 0;
      do {
        const r: { body: any } = await api(h.gw, 'GET', `/api/conversations/${conv.id}/messages?limit=2${cursor ? `&cursor=${cursor}` : ''}`, undefined, t.key);
        walked.push(...r.body.items.map((m: any) => m.id));
        cursor = r.body.nextCursor;
        await new Promise((res) => setTimeout(res, 5));
      } while (cursor && ++pages < 500);
    } finally {
      await w.stop();
    }
    expect(new Set(walked).size).toBe(walked.length);
    const ids = walked.map((id) => BigInt(id));
    for (let i = 1; i < ids.length; i++) expect(ids[i] > ids[i - 1]).toBe(true);
    // Nothing skipped: every message up to the last one walked is in the walk.
    const everything = (await api(h.gw, 'GET', `/api/conversations/${conv.id}/messages?limit=500`, undefined, t.key)).body.items.map((m: any) => m.id);
    const upTo = everything.slice(0, everything.indexOf(walked[walked.length - 1]) + 1);
    expect(walked).toEqual(upTo);
    expect(walked.length).toBeGreaterThan(5);
  });
});
