import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { api, provisionTenant } from '../support/gateway.ts';
import { eventually } from '../support/pipeline.ts';
import { messagesValue, notification, postWebhook, wamid } from '../support/webhooks.ts';
import { startApiGateway, type ApiHarness } from '../api/harness.ts';
import { testTemplates } from '../templates/fixtures.ts';

// A tiny PNG's worth of bytes: the simulator stores what it is given, the test compares them.
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('picture-bytes')]);
const PDF = Buffer.from('%PDF-1.4 menu');

/** A file server on loopback: /pic.png and /menu.pdf. */
async function fileServer(): Promise<{ server: Server; url: string; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    if (req.url === '/pic.png') res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
    else if (req.url === '/menu.pdf') res.writeHead(200, { 'content-type': 'application/pdf' }).end(PDF);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, paths };
}

describe('rich messages: media, reactions, quoted replies', () => {
  let h: ApiHarness;
  let model: FakeModel;
  let files: { server: Server; url: string; paths: string[] };
  let outside: { server: Server; url: string; paths: string[] };
  beforeAll(async () => {
    model = await startFakeModel();
    files = await fileServer();
    outside = await fileServer();
    // The file server is allowed like WAGATE_EGRESS_ALLOW would allow a tenant's own host; `outside` is not.
    h = await startApiGateway({ env: { WAGATE_EGRESS_ALLOW: `${new URL(model.url).host},${new URL(files.url).host}` } });
  });
  beforeEach(() => model.reset());
  afterAll(async () => {
    await h?.close();
    await model?.close();
    files?.server.close();
    outside?.server.close();
  });

  const from = () => '1555' + Math.floor(1e6 + Math.random() * 9e6);

  /** A tenant (paused bot unless an agent is given) and a conversation with one customer message. */
  async function conversation(agent: Record<string, unknown> = { provider: 'demo' }) {
    const t = await provisionTenant(h.gw, { agent });
    const customer = from();
    const m = { from: customer, id: wamid(), timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: 'a table for two?' } };
    await postWebhook(h.gw.url, notification({ value: messagesValue(t.phoneNumberId, [m]) }));
    const conv = (await api(h.gw, 'GET', '/api/conversations', undefined, t.key)).body.items.find((c: any) => c.contact.waId === customer);
    const inbound = (await api(h.gw, 'GET', `/api/conversations/${conv.id}/messages`, undefined, t.key)).body.items[0];
    return { ...t, customer, conversationId: conv.id as string, inbound, inboundWamid: m.id };
  }

  it('the operator sends buttons quoting a message, a list, and a reaction', async () => {
    const c = await conversation();
    const quoted = h.cloud.once('send', (e) => e.to === c.customer && e.type === 'interactive');
    const r = await api(h.gw, 'POST', `/api/conversations/${c.conversationId}/messages`, { text: 'Which one?', buttons: [{ id: 'a', title: 'Lunch' }, { id: 'b', title: 'Dinner' }], replyTo: c.inbound.id }, c.key);
    expect(r.status).toBe(201);
    expect(r.body.messages).toEqual([expect.objectContaining({ type: 'interactive', author: 'operator', text: 'Which one?\n[buttons: Lunch (a) | Dinner (b)]' })]);
    const e = await quoted;
    expect(e.contextWamid).toBe(c.inboundWamid);
    expect(e.message.options).toEqual([{ id: 'a', title: 'Lunch' }, { id: 'b', title: 'Dinner' }]);

    const listed = h.cloud.once('send', (x) => x.to === c.customer && x.message.listButton === 'Menus');
    const l = await api(h.gw, 'POST', `/api/conversations/${c.conversationId}/messages`, { text: 'Pick', list: { button: 'Menus', sections: [{ rows: [{ id: 'veg', title: 'Vegetarian' }] }] } }, c.key);
    expect(l.status).toBe(201);
    expect((await listed).message.options).toEqual([{ id: 'veg', title: 'Vegetarian' }]);

    const reacted = h.cloud.once('send', (x) => x.to === c.customer && x.type === 'reaction');
    const re = await api(h.gw, 'POST', `/api/conversations/${c.conversationId}/messages`, { reaction: { messageId: c.inbound.id, emoji: '👍' } }, c.key);
    expect(re.status).toBe(201);
    expect((await reacted).body).toBe('👍');
    const wire = h.cloud.requests().find((q) => (q.body as any)?.type === 'reaction' && (q.body as any).to === c.customer)!.body as any;
    expect(wire.reaction).toEqual({ message_id: c.inboundWamid, emoji: '👍' });

    const text = h.cloud.once('send', (x) => x.to === c.customer && x.type === 'text' && x.body === 'Yes, we do.');
    expect((await api(h.gw, 'POST', `/api/conversations/${c.conversationId}/messages`, { text: 'Yes, we do.', replyTo: c.inbound.id }, c.key)).status).toBe(201);
    expect((await text).contextWamid).toBe(c.inboundWamid);
  });

  it('an image by URL is fetched under the egress policy and uploaded; a document is uploaded from base64', async () => {
    const c = await conversation();
    const image = h.cloud.once('send', (e) => e.to === c.customer && e.type === 'image');
    const r = await api(h.gw, 'POST', `/api/conversations/${c.conversationId}/messages`, { text: 'Our shop', media: { type: 'image', url: `${files.url}/pic.png` } }, c.key);
    expect(r.status).toBe(201);
    const e = await image;
    expect(e.body).toBe('[image] Our shop');
    expect(h.cloud.upload(e.message.media!.id!)).toEqual({ bytes: PNG, mimeType: 'image/png', filename: 'pic.png' });

    const doc = h.cloud.once('send', (x) => x.to === c.customer && x.type === 'document');
    const d = await api(h.gw, 'POST', `/api/conversations/${c.conversationId}/messages`, { media: { type: 'document', data: PDF.toString('base64'), mimeType: 'application/pdf', filename: 'menu.pdf' } }, c.key);
    expect(d.status).toBe(201);
    const de = await doc;
    expect(de.body).toBe('[document menu.pdf]');
    expect(h.cloud.upload(de.message.media!.id!)).toEqual({ bytes: PDF, mimeType: 'application/pdf', filename: 'menu.pdf' });
  });

  it('bad rich sends are a clear 4xx and queue nothing', async () => {
    const c = await conversation();
    const uploadsBefore = h.cloud.requests().filter((q) => q.path.includes('/media')).length;
    const cases: [unknown, number, string][] = [
      [{ text: 'x', buttons: [1, 2, 3, 4].map((i) => ({ id: `b${i}`, title: `B${i}` })) }, 400, 'invalid_request'],
      [{ text: 'x', buttons: [{ id: 'a', title: 'A title far longer than twenty' }] }, 400, 'invalid_request'],
      [{ text: 'x', buttons: [{ id: 'a', title: 'Same' }, { id: 'b', title: 'Same' }] }, 400, 'interactive_limits'],
      [{ text: 'x', list: { button: 'L', sections: [{ title: 'A', rows: Array.from({ length: 6 }, (_, i) => ({ id: `a${i}`, title: 'r' })) }, { title: 'B', rows: Array.from({ length: 5 }, (_, i) => ({ id: `b${i}`, title: 'r' })) }] } }, 400, 'interactive_limits'],
      [{ reaction: { messageId: c.inbound.id, emoji: '👍' }, text: 'x' }, 400, 'invalid_request'],
      [{ text: 'x', replyTo: '999999999' }, 400, 'message_not_found'],
      [{ media: { type: 'image', url: `${outside.url}/pic.png` } }, 400, 'egress_refused'],
      [{ media: { type: 'image', url: `${files.url}/missing.png` } }, 400, 'media_fetch_failed'],
      [{ media: { type: 'image', url: `${files.url}/menu.pdf` } }, 400, 'media_type_unsupported'],
      [{ media: { type: 'image', data: 'R0lGOD==', mimeType: 'image/gif' } }, 400, 'media_type_unsupported'],
      [{ media: { type: 'image' } }, 400, 'invalid_request'],
    ];
    for (const [body, status, code] of cases) {
      const r = await api(h.gw, 'POST', `/api/conversations/${c.conversationId}/messages`, body, c.key);
      expect([JSON.stringify(body).slice(0, 80), r.status, r.body.error?.code]).toEqual([JSON.stringify(body).slice(0, 80), status, code]);
    }
    const items = (await api(h.gw, 'GET', `/api/conversations/${c.conversationId}/messages`, undefined, c.key)).body.items;
    expect(items.filter((m: any) => m.author === 'operator')).toEqual([]);
    expect(h.cloud.requests().filter((q) => q.path.includes('/media')).length).toBe(uploadsBefore);
  });

  it("the agent answers with a document by URL, quoting the customer's message; a URL it may not reach goes out as text", async () => {
    model.script(
      { kind: 'tool', name: 'x', args: {}, http: { reply: 'Here is our menu', media: { type: 'document', url: `${files.url}/menu.pdf`, filename: 'menu.pdf' }, quote: true } },
    );
    // Listening before the customer writes: the answer can go out before conversation() returns.
    const sent = h.cloud.once('send', (e) => e.type === 'document' && e.body.endsWith('Here is our menu'));
    const c = await conversation({ provider: 'http', url: model.httpAgentUrl });
    const doc = await sent;
    expect(doc.to).toBe(c.customer);
    expect(doc.body).toBe('[document menu.pdf] Here is our menu');
    expect(doc.contextWamid).toBe(c.inboundWamid);
    expect(h.cloud.upload(doc.message.media!.id!)?.bytes).toEqual(PDF);

    model.script({ kind: 'tool', name: 'x', args: {}, http: { reply: 'A photo', media: { type: 'image', url: `${outside.url}/pic.png` } } });
    const text = h.cloud.once('send', (e) => e.to === c.customer && e.type === 'text');
    await postWebhook(h.gw.url, notification({ value: messagesValue(c.phoneNumberId, [{ from: c.customer, id: wamid(), timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: 'a photo?' } }]) }));
    expect((await text).body).toBe(`A photo\n${outside.url}/pic.png`);
    await eventually(async () => {
      const items = (await api(h.gw, 'GET', `/api/conversations/${c.conversationId}/messages`, undefined, c.key)).body.items;
      return items.filter((m: any) => m.direction === 'inbound').every((m: any) => m.disposition === 'answered');
    });
  });

  it("past the window the agent's media is neither fetched nor uploaded: the tenant's template goes out instead", async () => {
    const waba = '660002';
    const agent = { provider: 'http', url: model.httpAgentUrl, windowClosedTemplate: { name: 'order_update', language: 'en_US', parameters: ['there', 'C-3'] } };
    const t = await provisionTenant(h.gw, { channel: { wabaId: waba }, agent });
    h.cloud.setTemplates(waba, testTemplates(), [t.phoneNumberId]);
    expect((await api(h.gw, 'POST', '/api/templates/sync', {}, t.key)).body.channels[0]).toMatchObject({ synced: 4, error: null });
    model.script({ kind: 'tool', name: 'x', args: {}, http: { reply: 'Here is our menu', media: { type: 'document', url: `${files.url}/menu.pdf`, filename: 'menu.pdf' } } });
    const uploadsBefore = h.cloud.requests().filter((q) => q.path.includes('/media')).length;
    const fetchesBefore = files.paths.length;
    const customer = from();
    const sent = h.cloud.once('send', (e) => e.to === customer);
    // The customer wrote 30 hours ago: the window is closed when the turn comes.
    const old = { from: customer, id: wamid(), timestamp: String(Math.floor(Date.now() / 1000) - 30 * 3600), type: 'text', text: { body: 'the menu?' } };
    expect((await postWebhook(h.gw.url, notification({ value: messagesValue(t.phoneNumberId, [old]) }))).status).toBe(200);
    const e = await sent;
    expect([e.type, e.template, e.body]).toEqual(['template', 'order_update', 'Hi there, your order C-3 is ready.']);
    expect(h.cloud.requests().filter((q) => q.path.includes('/media')).length).toBe(uploadsBefore);
    expect(files.paths.length).toBe(fetchesBefore);
    const conv = (await api(h.gw, 'GET', '/api/conversations', undefined, t.key)).body.items.find((c: any) => c.contact.waId === customer);
    const items = await eventually(async () => {
      const r = (await api(h.gw, 'GET', `/api/conversations/${conv.id}/messages`, undefined, t.key)).body.items;
      return r.length === 2 && r[0].disposition ? r : null;
    });
    expect(items.map((m: any) => [m.type, m.author, m.disposition])).toEqual([['text', 'customer', 'answered'], ['template', 'agent', null]]);
  });

  it('past the window, an agent failure that hands off pauses the bot without sending the fallback message', async () => {
    const waba = '660003';
    const agent = { provider: 'http', url: model.httpAgentUrl, handoffOnAgentFailure: true, windowClosedTemplate: { name: 'order_update', language: 'en_US', parameters: ['there', 'E-5'] } };
    const t = await provisionTenant(h.gw, { channel: { wabaId: waba }, agent });
    h.cloud.setTemplates(waba, testTemplates(), [t.phoneNumberId]);
    expect((await api(h.gw, 'POST', '/api/templates/sync', {}, t.key)).body.channels[0]).toMatchObject({ synced: 4, error: null });
    model.script({ kind: 'status', status: 400 }, { kind: 'status', status: 400 }, { kind: 'status', status: 400 });
    const customer = from();
    const old = { from: customer, id: wamid(), timestamp: String(Math.floor(Date.now() / 1000) - 30 * 3600), type: 'text', text: { body: 'anyone?' } };
    expect((await postWebhook(h.gw.url, notification({ value: messagesValue(t.phoneNumberId, [old]) }))).status).toBe(200);
    const conv = await eventually(async () => (await api(h.gw, 'GET', '/api/conversations', undefined, t.key)).body.items.find((c: any) => c.contact.waId === customer));
    const items = await eventually(async () => {
      const r = (await api(h.gw, 'GET', `/api/conversations/${conv.id}/messages`, undefined, t.key)).body.items;
      return r[0]?.disposition ? r : null;
    });
    expect(items.map((m: any) => [m.direction, m.disposition])).toEqual([['inbound', 'agent_failed']]);
    expect((await api(h.gw, 'GET', `/api/conversations/${conv.id}`, undefined, t.key)).body).toMatchObject({ paused: true });
  });

  it("a template's document header is fetched under the egress policy and uploaded; a refused URL queues nothing", async () => {
    const c = await conversation();
    await api(h.gw, 'PATCH', `/api/channels/${c.channel.id}`, { wabaId: '660001' });
    h.cloud.setTemplates('660001', testTemplates(), [c.phoneNumberId]);
    expect((await api(h.gw, 'POST', '/api/templates/sync', {}, c.key)).body.channels[0]).toMatchObject({ synced: 4, error: null });
    const refused = await api(h.gw, 'POST', `/api/conversations/${c.conversationId}/template`, { name: 'invoice_ready', language: 'en_US', parameters: ['F-7'], header: { type: 'document', url: `${outside.url}/menu.pdf` } }, c.key);
    expect([refused.status, refused.body.error.code]).toEqual([400, 'egress_refused']);

    const sent = h.cloud.once('send', (e) => e.to === c.customer && e.template === 'invoice_ready');
    const r = await api(h.gw, 'POST', `/api/conversations/${c.conversationId}/template`, { name: 'invoice_ready', language: 'en_US', parameters: ['F-7'], header: { type: 'document', url: `${files.url}/menu.pdf`, filename: 'F-7.pdf' } }, c.key);
    expect(r.status).toBe(201);
    expect((await sent).body).toBe('Your invoice F-7 is attached.');
    const wire = h.cloud.requests().find((q) => (q.body as any)?.template?.name === 'invoice_ready')!.body as any;
    const header = wire.template.components[0];
    expect(header).toMatchObject({ type: 'header', parameters: [{ type: 'document', document: { filename: 'F-7.pdf' } }] });
    expect(h.cloud.upload(header.parameters[0].document.id)?.bytes).toEqual(PDF);
    const items = (await api(h.gw, 'GET', `/api/conversations/${c.conversationId}/messages`, undefined, c.key)).body.items;
    expect(items.filter((m: any) => m.type === 'template')).toHaveLength(1);
  });
});
