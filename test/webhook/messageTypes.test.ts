import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { messagesValue, notification, now, postWebhook, textMessage, wamid } from '../support/webhooks.ts';
import { ingestOnly, Rows } from './rows.ts';

/** A message of any type from `from`, shaped as Meta sends it. */
const message = (from: string, type: string, content: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  from,
  id: wamid(),
  timestamp: now(),
  type,
  ...content,
  ...extra,
});

describe('every message type of a notification is stored with its fields', () => {
  let gw: TestGateway;
  let rows: Rows;
  let p: Awaited<ReturnType<typeof provisionTenant>>;

  beforeAll(async () => {
    gw = await startTestGateway(ingestOnly());
    rows = await Rows.open(gw.dbUrl);
    p = await provisionTenant(gw);
  });
  afterAll(async () => {
    await rows?.close();
    await gw?.stop();
  });

  /** Posts one message, returns its stored row. */
  async function store(m: Record<string, unknown>, contacts?: Record<string, unknown>[]) {
    const res = await postWebhook(gw.url, notification({ value: messagesValue(p.phoneNumberId, [m], contacts) }));
    expect(res.status).toBe(200);
    const row = await rows.message(m.id as string);
    expect(row).toBeDefined();
    expect(String(row!.tenant_id)).toBe(p.tenant.id);
    expect(String(row!.channel_id)).toBe(p.channel.id);
    return row!;
  }

  it('stores a text message as an inbound customer message awaiting its turn', async () => {
    const m = textMessage('15550003001', 'Hello there');
    const row = await store(m);
    expect(row).toMatchObject({ direction: 'inbound', author: 'customer', type: 'text', body: 'Hello there', status: 'received', disposition: null });
    expect(row.wa_timestamp.getTime()).toBe(Number(m.timestamp) * 1000);
    const [contact] = await rows.query('SELECT c.* FROM contacts c JOIN conversations v ON v.contact_id = c.id WHERE v.id = $1', [row.conversation_id]);
    expect(contact).toMatchObject({ wa_id: '15550003001', contact_key: '15550003001', profile_name: 'Customer 15550003001' });
  });

  it('stores a reply context on a text message', async () => {
    const row = await store(textMessage('15550003002', 'about that', { context: { from: '15550100', id: 'wamid.earlier' } }));
    expect(row.context_wamid).toBe('wamid.earlier');
  });

  it("stores an interactive button_reply with the button's title as text", async () => {
    const m = message('15550003003', 'interactive', { interactive: { type: 'button_reply', button_reply: { id: 'btn-yes', title: 'Yes please' } } });
    const row = await store(m);
    expect(row).toMatchObject({ type: 'interactive', body: 'Yes please', disposition: null });
    expect(row.payload).toEqual({ type: 'button_reply', button_reply: { id: 'btn-yes', title: 'Yes please' } });
  });

  it("stores an interactive list_reply with the row's title as text", async () => {
    const m = message('15550003004', 'interactive', {
      interactive: { type: 'list_reply', list_reply: { id: 'row-2', title: 'Large pizza', description: '12 slices' } },
    });
    const row = await store(m);
    expect(row).toMatchObject({ type: 'interactive', body: 'Large pizza' });
    expect(row.payload.list_reply).toEqual({ id: 'row-2', title: 'Large pizza', description: '12 slices' });
  });

  it('stores a quick-reply button with its text', async () => {
    const m = message('15550003005', 'button', { button: { payload: 'STOP_PROMOS', text: 'Stop promotions' } }, { context: { from: '15550100', id: 'wamid.template' } });
    const row = await store(m);
    expect(row).toMatchObject({ type: 'button', body: 'Stop promotions', context_wamid: 'wamid.template' });
    expect(row.payload).toEqual({ payload: 'STOP_PROMOS', text: 'Stop promotions' });
  });

  it.each([
    ['image', { id: 'media-img-1', mime_type: 'image/jpeg', sha256: 'abc=', caption: 'my receipt' }],
    ['video', { id: 'media-vid-1', mime_type: 'video/mp4', sha256: 'def=', caption: 'unboxing' }],
    ['audio', { id: 'media-aud-1', mime_type: 'audio/ogg; codecs=opus', sha256: 'ghi=', voice: true }],
    ['document', { id: 'media-doc-1', mime_type: 'application/pdf', sha256: 'jkl=', caption: 'invoice', filename: 'invoice-42.pdf' }],
    ['sticker', { id: 'media-stk-1', mime_type: 'image/webp', sha256: 'mno=', animated: false }],
  ])('stores a %s with its media id, mime type, caption and filename', async (type, media) => {
    const row = await store(message('15550003006', type, { [type]: media }));
    expect(row.type).toBe(type);
    expect(row.media).toEqual(media);
    expect(row.body).toBe((media as { caption?: string }).caption ?? null);
    expect(row.disposition).toBeNull();
  });

  it('stores a location with its name and address as text and the coordinates', async () => {
    const location = { latitude: 52.52, longitude: 13.405, name: 'Brandenburg Gate', address: 'Pariser Platz, Berlin' };
    const row = await store(message('15550003007', 'location', { location }));
    expect(row).toMatchObject({ type: 'location', body: 'Brandenburg Gate, Pariser Platz, Berlin' });
    expect(row.payload).toEqual(location);
  });

  it('stores shared contacts with their names as text and the cards', async () => {
    const contacts = [
      { name: { formatted_name: 'Ada Lovelace', first_name: 'Ada' }, phones: [{ phone: '+44 20 0000', type: 'WORK' }] },
      { name: { formatted_name: 'Alan Turing' } },
    ];
    const row = await store(message('15550003008', 'contacts', { contacts }), [{ profile: { name: 'Sharer' }, wa_id: '15550003008' }]);
    expect(row).toMatchObject({ type: 'contacts', body: 'Ada Lovelace, Alan Turing' });
    expect(row.payload).toEqual(contacts);
  });

  it('stores a reaction against the message it reacts to, needing no answer', async () => {
    const target = textMessage('15550003009', 'Is it open today?');
    await store(target);
    const row = await store(message('15550003009', 'reaction', { reaction: { message_id: target.id, emoji: '👍' } }));
    expect(row).toMatchObject({ type: 'reaction', body: '👍', context_wamid: target.id, disposition: 'no_answer_needed' });
  });

  it('stores an order with its raw JSON, needing no answer', async () => {
    const order = { catalog_id: 'cat-1', text: 'for Friday', product_items: [{ product_retailer_id: 'sku-9', quantity: 2, item_price: 9.5, currency: 'EUR' }] };
    const row = await store(message('15550003010', 'order', { order }));
    expect(row).toMatchObject({ type: 'order', body: 'for Friday', disposition: 'no_answer_needed' });
    expect(row.payload).toEqual(order);
  });

  it('stores a system message with its raw JSON, needing no answer', async () => {
    const system = { body: 'User A changed from 1555 to 1666', wa_id: '1666', type: 'user_changed_number' };
    const row = await store(message('15550003011', 'system', { system }));
    expect(row).toMatchObject({ type: 'system', body: system.body, disposition: 'no_answer_needed' });
    expect(row.payload).toEqual(system);
  });

  it('stores an unsupported message with its raw JSON and its errors', async () => {
    const errors = [{ code: 131051, title: 'Message type unknown', message: 'Message type unknown', error_data: { details: 'Message type is currently not supported.' } }];
    const m = message('15550003012', 'unsupported', { errors });
    const row = await store(m);
    expect(row).toMatchObject({ type: 'unsupported', body: null, disposition: 'no_answer_needed' });
    expect(row.payload).toEqual(m);
    expect(row.errors).toEqual(errors);
  });

  it('stores a message of a type it does not know with its raw JSON', async () => {
    const m = message('15550003013', 'hologram', { hologram: { frames: [1, 2, 3], note: 'from the future' } });
    const row = await store(m);
    expect(row).toMatchObject({ type: 'hologram', body: null, media: null, disposition: 'no_answer_needed' });
    expect(row.payload).toEqual(m);
  });

  // Meta sends the timestamp as a string; the parsed copy has a number, the stored one must not.
  it('keeps the raw JSON of an unknown message exactly as Meta sent it', async () => {
    const m = message('15550003020', 'hologram', { hologram: { v: 1 } });
    const row = await store(m);
    expect(row.payload).toEqual(m);
  });

  it('stores the errors a message carries', async () => {
    const errors = [{ code: 131026, title: 'Message undeliverable', error_data: { details: 'x' } }];
    const row = await store(textMessage('15550003014', 'with errors', { errors }));
    expect(row.errors).toEqual(errors);
  });

  it('stores a message echo from the business app as outbound by an operator and pauses the bot', async () => {
    const customer = '15550003015';
    await store(textMessage(customer, 'hi'));
    const echo = { from: '15550100', to: customer, id: wamid(), timestamp: now(), type: 'text', text: { body: 'A person here, how can I help?' } };
    const value = { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550100', phone_number_id: p.phoneNumberId }, message_echoes: [echo] };
    const res = await postWebhook(gw.url, notification({ field: 'smb_message_echoes', value }));
    expect(res.status).toBe(200);
    const row = await rows.message(echo.id);
    expect(row).toMatchObject({ direction: 'outbound', author: 'operator', type: 'text', body: 'A person here, how can I help?', status: 'sent', disposition: null });
    const [conv] = await rows.query('SELECT paused, paused_by FROM conversations WHERE id = $1', [row!.conversation_id]);
    expect(conv).toEqual({ paused: true, paused_by: 'business_app' });
    const inbound = await rows.query("SELECT count(*)::int AS n FROM messages WHERE conversation_id = $1 AND direction = 'inbound'", [row!.conversation_id]);
    expect(inbound[0].n).toBe(1);
  });

  it('stores every message of a notification with several entries, changes and messages', async () => {
    const second = await provisionTenant(gw, { name: 'Second' });
    const a1 = textMessage('15550003016', 'a1');
    const a2 = textMessage('15550003017', 'a2');
    const a3 = message('15550003016', 'image', { image: { id: 'm-1', mime_type: 'image/png' } });
    const b1 = textMessage('15550003018', 'b1');
    const b2 = textMessage('15550003016', 'b2');
    const body = {
      object: 'whatsapp_business_account',
      entry: [
        {
          id: 'WABA-A',
          changes: [
            { field: 'messages', value: messagesValue(p.phoneNumberId, [a1, a2]) },
            { field: 'account_update', value: { event: 'VERIFIED_ACCOUNT' } },
            { field: 'messages', value: messagesValue(p.phoneNumberId, [a3]) },
          ],
        },
        { id: 'WABA-B', changes: [{ field: 'messages', value: messagesValue(second.phoneNumberId, [b1, b2]) }] },
      ],
    };
    expect((await postWebhook(gw.url, body)).status).toBe(200);
    for (const m of [a1, a2, a3]) expect(String((await rows.message(m.id))?.tenant_id)).toBe(p.tenant.id);
    for (const m of [b1, b2]) expect(String((await rows.message(m.id))?.tenant_id)).toBe(second.tenant.id);
  });

  it("keeps the same customer's conversations with two tenants apart", async () => {
    const second = await provisionTenant(gw, { name: 'Another business' });
    const customer = '15550003019';
    const m1 = textMessage(customer, 'to the first');
    const m2 = textMessage(customer, 'to the second');
    expect((await postWebhook(gw.url, notification({ value: messagesValue(p.phoneNumberId, [m1]) }))).status).toBe(200);
    expect((await postWebhook(gw.url, notification({ value: messagesValue(second.phoneNumberId, [m2]) }))).status).toBe(200);
    const r1 = (await rows.message(m1.id))!;
    const r2 = (await rows.message(m2.id))!;
    expect(r1.conversation_id).not.toBe(r2.conversation_id);
    const convs = await rows.query(
      `SELECT v.tenant_id, c.tenant_id AS contact_tenant FROM conversations v JOIN contacts c ON c.id = v.contact_id WHERE c.wa_id = $1 ORDER BY v.id`,
      [customer],
    );
    expect(convs.map((c) => [String(c.tenant_id), String(c.contact_tenant)])).toEqual([
      [p.tenant.id, p.tenant.id],
      [second.tenant.id, second.tenant.id],
    ]);
  });

  it('keys a contact Meta names only by its business-scoped user_id by that id', async () => {
    const userId = 'US.13491208655302741918';
    const m = { from_user_id: userId, id: wamid(), timestamp: now(), type: 'text', text: { body: 'from a username' } };
    const row = await store(m, [{ profile: { name: 'Username user' }, user_id: userId }]);
    const [contact] = await rows.query('SELECT c.* FROM contacts c JOIN conversations v ON v.contact_id = c.id WHERE v.id = $1', [row.conversation_id]);
    expect(contact).toMatchObject({ contact_key: `u:${userId}`, wa_id: null, user_id: userId, profile_name: 'Username user' });
    // A second message from the same user joins the same conversation.
    const again = await store({ ...m, id: wamid(), text: { body: 'again' } }, [{ profile: { name: 'Username user' }, user_id: userId }]);
    expect(again.conversation_id).toBe(row.conversation_id);
  });

  it('keys a contact by user_id when only the contacts list names it', async () => {
    const userId = 'US.777000111';
    const m = { id: wamid(), timestamp: now(), type: 'text', text: { body: 'no from at all' } };
    const row = await store(m, [{ profile: { name: 'Only contact' }, user_id: userId }]);
    const [contact] = await rows.query('SELECT c.* FROM contacts c JOIN conversations v ON v.contact_id = c.id WHERE v.id = $1', [row.conversation_id]);
    expect(contact).toMatchObject({ contact_key: `u:${userId}`, wa_id: null, user_id: userId });
  });
});
