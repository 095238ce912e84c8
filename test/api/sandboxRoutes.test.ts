import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oggOpus } from '../media/fixtures.ts';
import { testTemplates } from '../templates/fixtures.ts';
import { SANDBOX_PHONE_NUMBER_ID } from '../../src/sandbox/setup.ts';
import { api, provisionTenant } from '../support/gateway.ts';
import { eventually } from '../support/pipeline.ts';
import { startApiGateway, type ApiHarness } from './harness.ts';
import { openEventStream } from './sseClient.ts';

async function post(h: ApiHarness, waId: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${h.gw.url}/sandbox/api/chats/${waId}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

describe('the sandbox phone page and its API', () => {
  let h: ApiHarness;
  let key: string;
  let channelId: string;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'wagate-sandbox-'));
    h = await startApiGateway({ sandbox: true, env: { WAGATE_DATA_DIR: dataDir } });
    const t = await provisionTenant(h.gw, { name: 'Demo Bikes', phoneNumberId: SANDBOX_PHONE_NUMBER_ID, agent: { provider: 'demo', systemPrompt: 'You are Ava. Be kind.' } });
    key = t.key;
    channelId = t.channel.id;
  });
  afterAll(async () => {
    await h?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('serves /sandbox with the strict page policy', async () => {
    const res = await fetch(`${h.gw.url}/sandbox`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await res.text();
    const js = /src="(\/assets\/sandbox-[^"]+\.js)"/.exec(html)![1];
    const asset = await fetch(h.gw.url + js);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');
  });

  it('a message written on the phone goes through the signed webhook: stored, answered, listed in the operator API', async () => {
    const events = await openEventStream(`${h.gw.url}/sandbox/api/events`, {});
    try {
      await events.next((e) => e.event === 'ready');
      const r = await post(h, '15550002001', { name: 'Carla', text: 'hello' });
      expect(r.status).toBe(201);
      expect(r.body.wamid).toMatch(/^wamid\.SANDBOX/);
      // The business marks it read with a typing indicator, then answers.
      const read = await events.next((e) => e.event === 'read' && e.data.wamid === r.body.wamid);
      expect(read.data.typing).toBe(true);
      const reply = await events.next((e) => e.event === 'reply' && e.data.waId === '15550002001');
      expect(reply.data.text).toContain('"You are Ava."');

      const conv = (await api(h.gw, 'GET', '/api/conversations', undefined, key)).body.items.find((c: any) => c.contact.waId === '15550002001');
      expect(conv.contact.name).toBe('Carla');
      const msgs = (await api(h.gw, 'GET', `/api/conversations/${conv.id}/messages`, undefined, key)).body.items;
      expect(msgs[0]).toMatchObject({ wamid: r.body.wamid, text: 'hello', author: 'customer' });

      const chat = await eventually(async () => {
        const c = await (await fetch(`${h.gw.url}/sandbox/api/chats/15550002001`)).json();
        return c.messages.length === 2 ? c : null;
      });
      expect(chat.messages[0]).toMatchObject({ fromMe: true, text: 'hello', status: 'read', wamid: r.body.wamid });
      expect(chat.messages[1]).toMatchObject({ fromMe: false, text: reply.data.text });

      const state = await (await fetch(`${h.gw.url}/sandbox/api/state`)).json();
      expect(state.business).toEqual({ name: 'Demo Bikes', displayPhoneNumber: '+1 555 0100' });
      expect(state.customers).toContainEqual({ waId: '15550002001', name: 'Carla' });
    } finally {
      events.close();
    }
  });

  it('the phone shows the buttons the agent offers, and a tap goes back as the interactive reply the agent answers', async () => {
    const events = await openEventStream(`${h.gw.url}/sandbox/api/events`, {});
    try {
      await events.next((e) => e.event === 'ready');
      await post(h, '15550002009', { text: 'hi' });
      const offer = await events.next((e) => e.event === 'reply' && e.data.waId === '15550002009' && e.data.type === 'interactive');
      expect(offer.data.options.map((o: any) => o.id)).toEqual(['hours', 'prices', 'human']);
      const chat = await eventually(async () => {
        const c = await (await fetch(`${h.gw.url}/sandbox/api/chats/15550002009`)).json();
        return c.messages.find((m: any) => m.wamid === offer.data.wamid) ?? null;
      });
      expect(chat).toMatchObject({ type: 'interactive', listButton: null, options: [{ id: 'hours', title: 'Opening hours' }, { id: 'prices', title: 'Prices' }, { id: 'human', title: 'Talk to a person' }] });
      expect(chat.text).toContain('"You are Ava."');

      const tapped = await post(h, '15550002009', { type: 'choice', choice: { kind: 'button_reply', id: 'prices', title: 'Prices', context: offer.data.wamid } });
      expect(tapped.status).toBe(201);
      const answer = await events.next((e) => e.event === 'reply' && e.data.waId === '15550002009' && e.data.type === 'text');
      expect(answer.data.text).toContain('Prices depend on what you need');
      expect((await post(h, '15550002009', { type: 'choice' })).status).toBe(400);
    } finally {
      events.close();
    }
  });

  it("a template's quick-reply buttons show after a reload too, and a tap goes back as Meta's button message", async () => {
    expect((await api(h.gw, 'PATCH', `/api/channels/${channelId}`, { wabaId: '990013' })).status).toBe(200);
    h.cloud.setTemplates('990013', testTemplates(), [SANDBOX_PHONE_NUMBER_ID]);
    expect((await api(h.gw, 'POST', '/api/templates/sync', {}, key)).status).toBe(200);
    const events = await openEventStream(`${h.gw.url}/sandbox/api/events`, {});
    try {
      await events.next((e) => e.event === 'ready');
      await post(h, '15550002013', { text: 'is my order ready?' });
      await events.next((e) => e.event === 'reply' && e.data.waId === '15550002013');
      const conv = (await api(h.gw, 'GET', '/api/conversations', undefined, key)).body.items.find((c: any) => c.contact.waId === '15550002013');
      const sent = await api(h.gw, 'POST', `/api/conversations/${conv.id}/template`, { name: 'order_update', language: 'en_US', parameters: ['Sam', 'C-2'] }, key);
      expect(sent.status).toBe(201);
      const live = await events.next((e) => e.event === 'reply' && e.data.waId === '15550002013' && e.data.type === 'template');
      const quick = [{ id: 'Track it', title: 'Track it' }, { id: 'Talk to us', title: 'Talk to us' }];
      expect(live.data.options).toEqual(quick);
      // What the page reads after a reload: the same text and buttons.
      const chat = await eventually(async () => {
        const c = await (await fetch(`${h.gw.url}/sandbox/api/chats/15550002013`)).json();
        return c.messages.find((m: any) => m.wamid === live.data.wamid) ?? null;
      });
      expect(chat).toMatchObject({ type: 'template', text: 'Hi Sam, your order C-2 is ready.', options: quick, listButton: null });
      const tapped = await post(h, '15550002013', { type: 'choice', choice: { kind: 'button', id: 'Track it', title: 'Track it', context: live.data.wamid } });
      expect(tapped.status).toBe(201);
      const msgs = await eventually(async () => {
        const items = (await api(h.gw, 'GET', `/api/conversations/${conv.id}/messages`, undefined, key)).body.items;
        return items.find((m: any) => m.wamid === tapped.body.wamid) ?? null;
      });
      expect(msgs).toMatchObject({ type: 'button', text: 'Track it' });
    } finally {
      events.close();
    }
  });

  it('photos and documents carry caption and file name', async () => {
    const img = await post(h, '15550002002', { type: 'image', caption: 'my bike' });
    const doc = await post(h, '15550002002', { type: 'document', filename: 'receipt.pdf' });
    expect(img.status).toBe(201);
    expect(doc.status).toBe(201);
    const conv = (await api(h.gw, 'GET', '/api/conversations', undefined, key)).body.items.find((c: any) => c.contact.waId === '15550002002');
    const msgs = (await api(h.gw, 'GET', `/api/conversations/${conv.id}/messages`, undefined, key)).body.items.filter((m: any) => m.direction === 'inbound');
    expect(msgs.map((m: any) => [m.type, m.text, m.media?.filename ?? null])).toEqual([
      ['image', 'my bike', null],
      ['document', null, 'receipt.pdf'],
    ]);
  });

  it('a voice note and a photo sent from the phone are real files: the demo agent says what it received, never a made-up transcript', async () => {
    const events = await openEventStream(`${h.gw.url}/sandbox/api/events`, {});
    try {
      await events.next((e) => e.event === 'ready');
      const audio = oggOpus(5000);
      const up = await fetch(`${h.gw.url}/sandbox/api/chats/15550002010/media?type=audio&mime=audio%2Fogg&name=Dora`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(audio) });
      expect(up.status).toBe(201);
      const heard = await events.next((e) => e.event === 'reply' && e.data.waId === '15550002010', 20_000);
      expect(heard.data.text).toBe(`Thanks for the audio message. I received ${Math.round(audio.length / 1024)} KB. I have no transcript of it.`);
      const photo = await post(h, '15550002010', { type: 'image', caption: 'my bike' });
      expect(photo.status).toBe(201);
      const seen = await events.next((e) => e.event === 'reply' && e.data.waId === '15550002010' && e.data.text.includes('my bike'), 20_000);
      expect(seen.data.text).toMatch(/^Thanks for the image \("my bike"\)\. I received \d+ KB\.$/);
      const doc = await post(h, '15550002010', { type: 'document', filename: 'sample.pdf', name: 'Dora' });
      expect(doc.status).toBe(201);
      const read = await events.next((e) => e.event === 'reply' && e.data.waId === '15550002010' && e.data.text.includes('sample.pdf'), 20_000);
      expect(read.data.text).toMatch(/^Thanks for the document\. I received sample\.pdf, application\/pdf, \d+ B, 2 pages\. It begins: "Sample document from Dora Page two of the sample"$/);
    } finally {
      events.close();
    }
    const bad = await fetch(`${h.gw.url}/sandbox/api/chats/15550002010/media?type=sticker`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array([1]) });
    expect(bad.status).toBe(400);
    const empty = await fetch(`${h.gw.url}/sandbox/api/chats/15550002010/media?type=image`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array() });
    expect(empty.status).toBe(400);
  });

  it('400 for an empty, invalid or NUL-bearing message, 404 for a number that is not one; another site may not post', async () => {
    for (const body of [{ text: '' }, { text: '   ' }, {}, { type: 'video', text: 'x' }, { text: 'x'.repeat(4097) }, { text: 'hi', admin: true }]) {
      const r = await post(h, '15550002003', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
    }
    // A NUL would reach the signed webhook, which refuses it: caught before, as on every route but the webhook.
    const nul = await post(h, '15550002003', { text: 'nul\u0000here' });
    expect(nul).toEqual({ status: 400, body: { error: { code: 'invalid_text', message: 'body.text: strings must not contain NUL characters' } } });
    expect((await post(h, 'abc', { text: 'hi' })).status).toBe(404);
    expect((await fetch(`${h.gw.url}/sandbox/api/chats/12`)).status).toBe(404);
    const cross = await post(h, '15550002003', { text: 'hi' }, { origin: 'https://evil.example' });
    expect(cross.status).toBe(403);
  });
});

describe('outside sandbox mode', () => {
  it('there is no /sandbox', async () => {
    const h = await startApiGateway();
    try {
      expect((await fetch(`${h.gw.url}/sandbox`)).status).toBe(404);
      expect((await fetch(`${h.gw.url}/sandbox/api/state`)).status).toBe(404);
      // The dashboard is there in every mode.
      const res = await fetch(`${h.gw.url}/`);
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/<script type="module" src="\/assets\/dashboard-[^"]+\.js"><\/script>/);
      expect((await fetch(`${h.gw.url}/assets/nothing.js`)).status).toBe(404);
    } finally {
      await h.close();
    }
  });
});
