import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkTemplate, SimError } from '../../src/sandbox/simulatorMessages.ts';
import { api, provisionTenant } from '../support/gateway.ts';
import { eventually } from '../support/pipeline.ts';
import { messagesValue, notification, postWebhook, wamid } from '../support/webhooks.ts';
import { startApiGateway, type ApiHarness } from '../api/harness.ts';
import { gapTemplates, testTemplates } from './fixtures.ts';

const WABA = '880013';

/** A tenant whose channel's templates (with URL-button and location ones) are synced, and a conversation whose customer last wrote `hoursAgo` ago. */
async function tenantWithTemplates(h: ApiHarness, hoursAgo = 0, agent: Record<string, unknown> = { provider: 'demo' }) {
  const t = await provisionTenant(h.gw, { channel: { wabaId: WABA }, agent });
  h.cloud.setTemplates(WABA, [...testTemplates(), ...gapTemplates()], [t.phoneNumberId]);
  expect((await api(h.gw, 'POST', '/api/templates/sync', {}, t.key)).status).toBe(200);
  const from = '1556' + Math.floor(1e6 + Math.random() * 9e6);
  const m = { from, id: wamid(), timestamp: String(Math.floor(Date.now() / 1000) - hoursAgo * 3600), type: 'text', text: { body: 'hello' } };
  expect((await postWebhook(h.gw.url, notification({ value: messagesValue(t.phoneNumberId, [m]) }))).status).toBe(200);
  const conversationId = await eventually(async () => {
    const list = await api(h.gw, 'GET', '/api/conversations', undefined, t.key);
    return (list.body.items.find((c: any) => c.contact.waId === from)?.id as string | undefined) ?? null;
  });
  return { ...t, from, conversationId };
}

const wireOf = (h: ApiHarness, to: string, name: string) =>
  h.cloud.requests().find((q) => (q.body as any)?.type === 'template' && (q.body as any).to === to && (q.body as any).template?.name === name)?.body as any;

const simError = (fn: () => unknown): SimError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof SimError) return err;
    throw err;
  }
  throw new Error('the simulator accepted it');
};

describe('template URL buttons, location headers and the closed-window template header', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiGateway();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('a button whose URL takes a parameter is filled by index and sent as Meta documents it', async () => {
    const t = await tenantWithTemplates(h, 30);
    const sent = h.cloud.once('send', (e) => e.template === 'track_parcel' && e.to === t.from);
    const r = await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/template`, { name: 'track_parcel', language: 'en_US', parameters: ['P-9'], buttons: [{ index: 1, parameters: ['P-9'] }] }, t.key);
    expect(r.status).toBe(201);
    expect(r.body.messages).toEqual([expect.objectContaining({ type: 'template', text: 'Your parcel P-9 is on its way.' })]);
    const e = await sent;
    expect(e.body).toBe('Your parcel P-9 is on its way.');
    expect(wireOf(h, t.from, 'track_parcel').template.components).toEqual([
      { type: 'body', parameters: [{ type: 'text', text: 'P-9' }] },
      { type: 'button', sub_type: 'url', index: '1', parameters: [{ type: 'text', text: 'P-9' }] },
    ]);
    // Its quick-reply button is still the customer's to tap.
    expect(e.message.options).toEqual([{ id: 'Thanks', title: 'Thanks' }]);
    const stored = await eventually(async () => {
      const m = (await api(h.gw, 'GET', `/api/conversations/${t.conversationId}/messages`, undefined, t.key)).body.items.find((x: any) => x.id === r.body.messages[0].id);
      return m?.status === 'sent' || m?.status === 'delivered' || m?.status === 'read' ? m : null;
    });
    expect(stored.wamid).toBe(e.wamid);
  });

  it('URL button parameters are checked against the template before Meta is called, and nothing is queued', async () => {
    const t = await tenantWithTemplates(h);
    const base = { name: 'track_parcel', language: 'en_US', parameters: ['P-9'] };
    const cases: [unknown, number, string][] = [
      [base, 400, 'template_parameters_invalid'], // the dynamic button is not given
      [{ ...base, buttons: [{ index: 0, parameters: ['x'] }] }, 400, 'template_parameters_invalid'], // a quick reply takes none
      [{ ...base, buttons: [{ index: 2, parameters: ['x'] }] }, 400, 'template_parameters_invalid'], // a static URL takes none
      [{ ...base, buttons: [{ index: 5, parameters: ['x'] }] }, 400, 'template_parameters_invalid'], // no such button
      [{ ...base, buttons: [{ index: 1, parameters: ['P-9'] }, { index: 1, parameters: ['P-9'] }] }, 400, 'template_parameters_invalid'],
      [{ ...base, buttons: [{ index: 1, parameters: ['has space'] }] }, 400, 'template_parameters_invalid'],
      [{ ...base, buttons: [{ index: 1, parameters: ['a', 'b'] }] }, 400, 'invalid_request'],
      [{ ...base, buttons: [{ index: 1, parameters: [] }] }, 400, 'invalid_request'],
      [{ ...base, buttons: [{ index: -1, parameters: ['x'] }] }, 400, 'invalid_request'],
      [{ name: 'order_update', language: 'en_US', parameters: ['Ana', 'A-1'], buttons: [{ index: 0, parameters: ['x'] }] }, 400, 'template_parameters_invalid'],
    ];
    for (const [body, status, code] of cases) {
      const r = await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/template`, body, t.key);
      expect([JSON.stringify(body), r.status, r.body.error?.code]).toEqual([JSON.stringify(body), status, code]);
    }
    const msgs = await api(h.gw, 'GET', `/api/conversations/${t.conversationId}/messages`, undefined, t.key);
    expect(msgs.body.items.filter((m: any) => m.type === 'template')).toEqual([]);
  });

  it('a location header is sent with its place; a missing or misplaced location is refused', async () => {
    const t = await tenantWithTemplates(h, 30);
    const sent = h.cloud.once('send', (e) => e.template === 'pickup_point' && e.to === t.from);
    const header = { type: 'location', latitude: 38.7223, longitude: -9.1393, name: 'Bike shop', address: 'Rua Augusta 1, Lisboa' };
    const r = await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/template`, { name: 'pickup_point', language: 'en_US', parameters: { order: 'A-3' }, header }, t.key);
    expect(r.status).toBe(201);
    expect(r.body.messages[0].text).toBe('*[location Bike shop]*\nPick up order A-3 here.');
    expect((await sent).body).toBe('Pick up order A-3 here.');
    expect(wireOf(h, t.from, 'pickup_point').template.components).toEqual([
      { type: 'header', parameters: [{ type: 'location', location: { latitude: '38.7223', longitude: '-9.1393', name: 'Bike shop', address: 'Rua Augusta 1, Lisboa' } }] },
      { type: 'body', parameters: [{ type: 'text', text: 'A-3', parameter_name: 'order' }] },
    ]);

    const sendsBefore = h.cloud.stats().sends;
    const cases: [unknown, number, string][] = [
      [{ name: 'pickup_point', language: 'en_US', parameters: { order: 'A-3' } }, 400, 'template_header_location_required'],
      [{ name: 'pickup_point', language: 'en_US', parameters: { order: 'A-3' }, header: { type: 'location', latitude: 1 } }, 400, 'template_header_location_required'],
      [{ name: 'pickup_point', language: 'en_US', parameters: { order: 'A-3' }, header: { type: 'image', url: 'https://files.example.com/a.png' } }, 400, 'template_parameters_invalid'],
      [{ name: 'pickup_point', language: 'en_US', parameters: { order: 'A-3' }, header: { ...header, latitude: 91 } }, 400, 'invalid_request'],
      [{ name: 'pickup_point', language: 'en_US', parameters: { order: 'A-3' }, header: { ...header, url: 'https://x.example.com/' } }, 400, 'template_parameters_invalid'],
      [{ name: 'order_update', language: 'en_US', parameters: ['Ana', 'A-1'], header }, 400, 'template_parameters_invalid'],
      [{ name: 'order_update', language: 'en_US', parameters: ['Ana', 'A-1'], header: { text: 'x', latitude: 1 } }, 400, 'template_parameters_invalid'],
    ];
    for (const [body, status, code] of cases) {
      const res = await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/template`, body, t.key);
      expect([JSON.stringify(body), res.status, res.body.error?.code]).toEqual([JSON.stringify(body), status, code]);
    }
    expect(h.cloud.stats().sends).toBe(sendsBefore);
  });

  it('the simulator refuses, as Meta does, a template send without its URL button parameter or its location', () => {
    const templates = gapTemplates();
    const track = (components: unknown[]) => ({ name: 'track_parcel', language: { code: 'en_US' }, components });
    const body = { type: 'body', parameters: [{ type: 'text', text: 'P-1' }] };
    expect(simError(() => checkTemplate(track([body]), templates)).code).toBe(132000);
    expect(simError(() => checkTemplate(track([body, { type: 'button', sub_type: 'url', index: '1', parameters: [] }]), templates)).code).toBe(132000);
    expect(simError(() => checkTemplate(track([body, { type: 'button', sub_type: 'url', index: '2', parameters: [{ type: 'text', text: 'x' }] }]), templates)).code).toBe(132000);
    expect(simError(() => checkTemplate(track([body, { type: 'button', sub_type: 'url', index: '1', parameters: [{ type: 'text', text: 'x' }] }, { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: 'y' }] }]), templates)).code).toBe(131009);
    expect(checkTemplate(track([body, { type: 'button', sub_type: 'url', index: 1, parameters: [{ type: 'text', text: 'x' }] }]), templates).text).toBe('Your parcel P-1 is on its way.');

    const pickup = (header: unknown[]) => ({ name: 'pickup_point', language: { code: 'en_US' }, components: [...header, { type: 'body', parameters: [{ type: 'text', text: 'A', parameter_name: 'order' }] }] });
    expect(simError(() => checkTemplate(pickup([]), templates)).code).toBe(132012);
    expect(simError(() => checkTemplate(pickup([{ type: 'header', parameters: [{ type: 'location', location: { latitude: '95', longitude: '1' } }] }]), templates)).code).toBe(132012);
    expect(checkTemplate(pickup([{ type: 'header', parameters: [{ type: 'location', location: { latitude: '1.5', longitude: '-2' } }] }]), templates).text).toBe('Pick up order A here.');
  });

  it('opt-in: the closed-window template takes a media header by https URL, a location header and URL button parameters', async () => {
    const image = { name: 'track_parcel', language: 'en_US', parameters: ['your parcel'], buttons: [{ index: 1, parameters: ['latest'] }] };
    const sent = h.cloud.once('send', (e) => e.template === 'track_parcel' && e.body === 'Your parcel your parcel is on its way.');
    const t = await tenantWithTemplates(h, 30, { provider: 'demo', windowClosedTemplate: image });
    expect((await sent).to).toBe(t.from);
    expect(wireOf(h, t.from, 'track_parcel').template.components).toContainEqual({ type: 'button', sub_type: 'url', index: '1', parameters: [{ type: 'text', text: 'latest' }] });

    const doc = { name: 'invoice_ready', language: 'en_US', parameters: ['F-9'], header: { type: 'document', url: 'https://files.example.com/F-9.pdf', filename: 'F-9.pdf' } };
    const sentDoc = h.cloud.once('send', (e) => e.template === 'invoice_ready' && e.body === 'Your invoice F-9 is attached.');
    const d = await tenantWithTemplates(h, 30, { provider: 'demo', windowClosedTemplate: doc });
    await sentDoc;
    expect(wireOf(h, d.from, 'invoice_ready').template.components[0]).toEqual({ type: 'header', parameters: [{ type: 'document', document: { link: 'https://files.example.com/F-9.pdf', filename: 'F-9.pdf' } }] });
    expect((await api(h.gw, 'GET', '/api/settings', undefined, d.key)).body.agent.windowClosedTemplate).toEqual(doc);

    const place = { name: 'pickup_point', language: 'en_US', parameters: { order: 'C-1' }, header: { type: 'location', latitude: 1.5, longitude: 2.5 } };
    const sentPlace = h.cloud.once('send', (e) => e.template === 'pickup_point' && e.body === 'Pick up order C-1 here.');
    const p = await tenantWithTemplates(h, 30, { provider: 'demo', windowClosedTemplate: place });
    await sentPlace;
    expect(wireOf(h, p.from, 'pickup_point').template.components[0]).toEqual({ type: 'header', parameters: [{ type: 'location', location: { latitude: '1.5', longitude: '2.5' } }] });

    // A media header needs an https URL; a bad header changes nothing.
    for (const header of [{ type: 'image', url: 'http://files.example.com/a.png' }, { type: 'image' }, { text: 'x', type: 'image', url: 'https://files.example.com/a.png' }, { type: 'location', latitude: 100, longitude: 0 }]) {
      const r = await api(h.gw, 'PATCH', '/api/settings', { agent: { windowClosedTemplate: { name: 'invoice_ready', language: 'en_US', header } } }, d.key);
      expect([JSON.stringify(header), r.status]).toEqual([JSON.stringify(header), 400]);
    }
    expect((await api(h.gw, 'GET', '/api/settings', undefined, d.key)).body.agent.windowClosedTemplate).toEqual(doc);

    // A template whose media header is not given: nothing goes out.
    const u = await tenantWithTemplates(h, 30, { provider: 'demo', windowClosedTemplate: { name: 'invoice_ready', language: 'en_US', parameters: ['F-1'] } });
    const first = await eventually(async () => {
      const m = (await api(h.gw, 'GET', `/api/conversations/${u.conversationId}/messages`, undefined, u.key)).body.items[0];
      return m?.disposition ? m : null;
    });
    expect(first.disposition).toBe('window_closed');
  });
});
