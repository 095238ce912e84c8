import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { DEMO_HOURS_REPLY } from '../../src/agent/demo.ts';
import { api, provisionTenant } from '../support/gateway.ts';
import { eventually } from '../support/pipeline.ts';
import { messagesValue, notification, postWebhook, wamid } from '../support/webhooks.ts';
import { startApiGateway, type ApiHarness } from '../api/harness.ts';
import { testTemplates } from '../templates/fixtures.ts';

const now = () => String(Math.floor(Date.now() / 1000));

describe('interactive replies, end to end', () => {
  let h: ApiHarness;
  let model: FakeModel;
  beforeAll(async () => {
    model = await startFakeModel();
    h = await startApiGateway({ env: { WAGATE_EGRESS_ALLOW: new URL(model.url).host } });
  });
  beforeEach(() => model.reset());
  afterAll(async () => {
    await h?.close();
    await model?.close();
  });

  const say = async (phoneNumberId: string, from: string, text: string) => {
    const m = { from, id: wamid(), timestamp: now(), type: 'text', text: { body: text } };
    expect((await postWebhook(h.gw.url, notification({ value: messagesValue(phoneNumberId, [m]) }))).status).toBe(200);
  };
  const tapIn = async (phoneNumberId: string, from: string, kind: 'button_reply' | 'list_reply', id: string, title: string, ctx: string) => {
    const m = { from, id: wamid(), timestamp: now(), type: 'interactive', context: { from: '15550100', id: ctx }, interactive: { type: kind, [kind]: { id, title } } };
    expect((await postWebhook(h.gw.url, notification({ value: messagesValue(phoneNumberId, [m]) }))).status).toBe(200);
  };
  const from = () => '1555' + Math.floor(1e6 + Math.random() * 9e6);

  it('window closed → template sent → customer answers → agent replies with buttons → customer taps → agent answers', async () => {
    const t = await provisionTenant(h.gw, { channel: { wabaId: '770001' }, agent: { provider: 'demo' } });
    h.cloud.setTemplates('770001', testTemplates(), [t.phoneNumberId]);
    expect((await api(h.gw, 'POST', '/api/templates/sync', {}, t.key)).status).toBe(200);
    const customer = from();
    // The customer last wrote two days ago: the window is closed, the message gets no answer.
    const old = { from: customer, id: wamid(), timestamp: String(Math.floor(Date.now() / 1000) - 48 * 3600), type: 'text', text: { body: 'is my order ready?' } };
    await postWebhook(h.gw.url, notification({ value: messagesValue(t.phoneNumberId, [old]) }));
    const conv = (await api(h.gw, 'GET', '/api/conversations', undefined, t.key)).body.items.find((c: any) => c.contact.waId === customer);
    const first = (await api(h.gw, 'GET', `/api/conversations/${conv.id}/messages`, undefined, t.key)).body.items[0];
    expect(first.disposition).toBe('window_closed');

    const template = h.cloud.once('send', (e) => e.to === customer && e.type === 'template');
    const sent = await api(h.gw, 'POST', `/api/conversations/${conv.id}/template`, { name: 'order_update', language: 'en_US', parameters: ['Sam', 'A-9'] }, t.key);
    expect(sent.status).toBe(201);
    expect((await template).body).toBe('Hi Sam, your order A-9 is ready.');

    const buttons = h.cloud.once('send', (e) => e.to === customer && e.type === 'interactive');
    await say(t.phoneNumberId, customer, 'hello');
    const offer = await buttons;
    expect(offer.message.options).toEqual([
      { id: 'hours', title: 'Opening hours' },
      { id: 'prices', title: 'Prices' },
      { id: 'human', title: 'Talk to a person' },
    ]);

    const answer = h.cloud.once('send', (e) => e.to === customer && e.type === 'text');
    await tapIn(t.phoneNumberId, customer, 'button_reply', 'hours', 'Opening hours', offer.wamid);
    expect((await answer).body).toBe(DEMO_HOURS_REPLY);

    const items = await eventually(async () => {
      const r = (await api(h.gw, 'GET', `/api/conversations/${conv.id}/messages`, undefined, t.key)).body.items;
      return r.length === 6 && r.every((m: any) => m.direction === 'inbound' || m.status !== 'queued') ? r : null;
    });
    expect(items.map((m: any) => `${m.direction}:${m.type}:${m.disposition ?? m.author}`)).toEqual([
      'inbound:text:window_closed',
      'outbound:template:operator',
      'inbound:text:answered',
      'outbound:interactive:agent',
      'inbound:interactive:answered',
      'outbound:text:agent',
    ]);
    expect(items[4].text).toBe('Opening hours');
  });

  it('buttons and a list from the http agent: the tap reaches the next turn as [choice id] with its title', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'http', url: model.httpAgentUrl } });
    const customer = from();
    const buttons = [{ id: 'opt_a', title: 'Option A' }, { id: 'opt_b', title: 'Option B' }];
    const sections = [{ title: 'Sizes', rows: [{ id: 'size_s', title: 'Small', description: 'fits 150-165 cm' }, { id: 'size_l', title: 'Large' }] }];
    model.script(
      { kind: 'tool', name: 'x', args: {}, http: { reply: 'Pick one', buttons } },
      { kind: 'tool', name: 'x', args: {}, http: { reply: 'Which size?', list: { button: 'Sizes', sections } } },
      { kind: 'reply', reply: 'Small it is.' },
    );
    const offer = h.cloud.once('send', (e) => e.to === customer && e.type === 'interactive');
    await say(t.phoneNumberId, customer, 'I want a bike');
    const o = await offer;
    expect(o.message.options).toEqual(buttons);
    const wire = h.cloud.requests().find((r) => (r.body as any)?.type === 'interactive' && (r.body as any).to === customer)!.body as any;
    expect(wire.interactive).toEqual({ type: 'button', body: { text: 'Pick one' }, action: { buttons: buttons.map((b) => ({ type: 'reply', reply: b })) } });

    const list = h.cloud.once('send', (e) => e.to === customer && e.type === 'interactive' && e.message.listButton === 'Sizes');
    await tapIn(t.phoneNumberId, customer, 'button_reply', 'opt_b', 'Option B', o.wamid);
    const l = await list;
    expect(l.message.options).toEqual([{ id: 'size_s', title: 'Small', description: 'fits 150-165 cm' }, { id: 'size_l', title: 'Large' }]);
    const second = model.requests.filter((r) => r.path === '/http-agent')[1].body;
    expect(second.messages).toEqual([{ role: 'user', content: '[choice opt_b] Option B' }]);
    // The agent's own offer is in its history, with the ids it gave.
    expect(second.history.at(-1)).toEqual({ role: 'assistant', content: 'Pick one\n[buttons: Option A (opt_a) | Option B (opt_b)]' });

    const done = h.cloud.once('send', (e) => e.to === customer && e.body === 'Small it is.');
    await tapIn(t.phoneNumberId, customer, 'list_reply', 'size_s', 'Small', l.wamid);
    await done;
    const third = model.requests.filter((r) => r.path === '/http-agent')[2].body;
    expect(third.messages).toEqual([{ role: 'user', content: '[choice size_s] Small' }]);
  });

  it("buttons that break WhatsApp's limits go out as text with the options numbered, never dropped", async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'http', url: model.httpAgentUrl } });
    const customer = from();
    model.script(
      { kind: 'tool', name: 'x', args: {}, http: { reply: 'Choose', buttons: [1, 2, 3, 4].map((i) => ({ id: `o${i}`, title: `Choice ${i}` })) } },
      { kind: 'tool', name: 'x', args: {}, http: { reply: 'Choose again', buttons: [{ id: 'long', title: 'A title far longer than twenty' }] } },
    );
    const text = h.cloud.once('send', (e) => e.to === customer);
    await say(t.phoneNumberId, customer, 'options?');
    const e = await text;
    expect(e.type).toBe('text');
    expect(e.body).toBe('Choose\n1. Choice 1\n2. Choice 2\n3. Choice 3\n4. Choice 4');
    const text2 = h.cloud.once('send', (x) => x.to === customer && x.body.startsWith('Choose again'));
    await say(t.phoneNumberId, customer, 'again');
    expect((await text2).body).toBe('Choose again\n1. A title far longer than twenty');
  });

  it('the simulator refuses what Meta refuses: a button title over 20 characters is error 131009', async () => {
    const res = await fetch(`${h.cloud.url}/v25.0/123/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        messaging_product: 'whatsapp',
        to: '1555',
        type: 'interactive',
        interactive: { type: 'button', body: { text: 'x' }, action: { buttons: [{ type: 'reply', reply: { id: 'a', title: 'A title far longer than twenty' } }] } },
      }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as any;
    expect(body.error).toMatchObject({ code: 131009, error_data: { details: 'Button title length invalid. Min length: 1, Max length: 20' } });
  });
});
