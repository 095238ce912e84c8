import { randomBytes } from 'node:crypto';
import { sign } from '../../src/webhook/signature.ts';
import { TEST_APP_SECRET } from './gateway.ts';

let seq = 0;
/** A fresh WhatsApp message id. */
export const wamid = () => `wamid.T${Date.now().toString(36)}${(seq++).toString(36)}${randomBytes(4).toString('hex')}`;
export const now = () => String(Math.floor(Date.now() / 1000));

/** A `messages` change value with the given messages (contacts derived from their senders). */
export function messagesValue(phoneNumberId: string, messages: Record<string, unknown>[], contacts?: Record<string, unknown>[]) {
  const senders = [...new Set(messages.map((m) => m.from as string).filter(Boolean))];
  return {
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: '15550100', phone_number_id: phoneNumberId },
    contacts: contacts ?? senders.map((s) => ({ profile: { name: `Customer ${s}` }, wa_id: s })),
    messages,
  };
}

/** A whole notification of one or more changes. */
export function notification(...values: { field?: string; value: unknown }[]) {
  return {
    object: 'whatsapp_business_account',
    entry: [{ id: 'WABA1', changes: values.map((v) => ({ field: v.field ?? 'messages', value: v.value })) }],
  };
}

/** A text message from `from`. */
export function textMessage(from: string, body: string, extra: Record<string, unknown> = {}) {
  return { from, id: wamid(), timestamp: now(), type: 'text', text: { body }, ...extra };
}

/** A text notification for one message. */
export function textNotification(phoneNumberId: string, from: string, body: string, extra: Record<string, unknown> = {}) {
  const m = textMessage(from, body, extra);
  return { body: notification({ value: messagesValue(phoneNumberId, [m]) }), wamid: m.id as string };
}

/** A status notification. */
export function statusNotification(phoneNumberId: string, statuses: Record<string, unknown>[]) {
  return notification({ value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550100', phone_number_id: phoneNumberId }, statuses } });
}

/** POSTs raw bytes signed with the app secret (or as told) to the webhook. */
export async function postWebhook(
  baseUrl: string,
  body: unknown,
  opts: { secret?: string; signature?: string | null; contentType?: string; path?: string; raw?: Buffer | string } = {},
) {
  const raw = opts.raw ?? (typeof body === 'string' ? body : JSON.stringify(body));
  const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/json' };
  const signature = opts.signature === undefined ? sign(raw, opts.secret ?? TEST_APP_SECRET) : opts.signature;
  if (signature !== null) headers['x-hub-signature-256'] = signature;
  const res = await fetch(baseUrl + (opts.path ?? '/webhooks/whatsapp'), { method: 'POST', headers, body: typeof raw === 'string' ? raw : new Uint8Array(raw) });
  const text = await res.text();
  return { status: res.status, text };
}
