import { z } from 'zod';
import { messageIdFromCallbackData } from '../shared/callbackData.ts';

/** A message the webhook carried: a customer's, or an echo of one the business sent from its own app. */
export interface InboundItem {
  /** Position in the notification, to keep Meta's order within it. */
  idx: number;
  phoneNumberId: string;
  /** `outbound` for message echoes (the business answered from its own WhatsApp app). */
  direction: 'inbound' | 'outbound';
  author: 'customer' | 'operator';
  /** wa_id, or `u:<user_id>` where Meta sends only the business-scoped user id. */
  contactKey: string;
  waId: string | null;
  userId: string | null;
  profileName: string | null;
  wamid: string;
  type: string;
  /** The text form: body, button title, caption, emoji … */
  body: string | null;
  media: Record<string, unknown> | null;
  /** The raw JSON of the type-specific object, for types kept as they came. */
  payload: unknown;
  contextWamid: string | null;
  errors: unknown[] | null;
  /** The request id of the webhook POST that brought it, carried into the log lines of its turn. */
  requestId?: string;
  /** Unix seconds. */
  ts: number;
  /** Whether this type asks for an agent turn. */
  answerable: boolean;
}

/** A status of a message the business sent. */
export interface StatusItem {
  idx: number;
  phoneNumberId: string;
  wamid: string;
  status: 'sent' | 'delivered' | 'read' | 'failed';
  ts: number;
  errorCode: number | null;
  errorTitle: string | null;
  /** Our message id, from the `biz_opaque_callback_data` we sent. */
  callbackMessageId: string | null;
  /** `pricing.category` (service, utility, marketing, authentication …), when the status carries it. */
  pricingCategory: string | null;
}

/** The template webhook fields: a template's status, quality or category changed. */
export const TEMPLATE_FIELDS = new Set(['message_template_status_update', 'message_template_quality_update', 'template_category_update']);

/** A change of one of a WhatsApp Business Account's templates (docs/templates.md). */
export interface TemplateEvent {
  field: string;
  /** The WhatsApp Business Account (the entry's id). */
  wabaId: string;
  /** Meta's template id, as a string. */
  templateId: string | null;
  name: string | null;
  language: string | null;
  /** message_template_status_update: the new status (APPROVED, REJECTED, PAUSED, DISABLED …). */
  status: string | null;
  /** message_template_quality_update: the new quality score (GREEN, YELLOW, RED, UNKNOWN). */
  quality: string | null;
  /** template_category_update (and status updates that carry it): the category. */
  category: string | null;
}

export interface Notification {
  messages: InboundItem[];
  statuses: StatusItem[];
  /** Template status, quality and category changes: they update the stored templates. */
  templates?: TemplateEvent[];
  /** Changes of other fields (account updates, calls …): acknowledged, not acted on. */
  ignored: number;
}

/** Raised for a body that is JSON but not a WhatsApp Business Account notification. */
export class InvalidNotificationError extends Error {
  readonly code = 'invalid_notification';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidNotificationError';
  }
}

/**
 * Updates (messages, echoes, statuses; a change without them counts as one)
 * one notification may carry. Meta aggregates webhook notifications in
 * batches of at most 1,000 updates (Graph API Webhooks, "Getting Started":
 * "Event Notifications are aggregated and sent in a batch with a maximum of
 * 1000 updates"); a body carrying more did not come from Meta's batching and
 * would hold an ingest connection for seconds.
 */
export const MAX_UPDATES_PER_NOTIFICATION = 1000;

/** Raised for a notification with more updates than MAX_UPDATES_PER_NOTIFICATION. */
export class TooManyUpdatesError extends Error {
  readonly code = 'too_many_updates';
  constructor(count: number) {
    super(`the notification carries ${count} updates; at most ${MAX_UPDATES_PER_NOTIFICATION} are taken in one notification`);
    this.name = 'TooManyUpdatesError';
  }
}

const ANSWERABLE = new Set(['text', 'interactive', 'button', 'image', 'video', 'audio', 'document', 'sticker', 'location', 'contacts']);
const MEDIA = new Set(['image', 'video', 'audio', 'document', 'sticker']);
const STATUSES = new Set(['sent', 'delivered', 'read', 'failed']);
// Unix seconds as Meta sends them (a string); bounded so PostgreSQL's to_timestamp cannot overflow.
const timestamp = z
  .union([z.string().regex(/^\d{1,11}$/), z.number().int().nonnegative().max(99_999_999_999)])
  .transform(Number);
const id = z.string().min(1).max(512);
const int32 = z.number().int().min(-2_147_483_648).max(2_147_483_647);

const contactSchema = z.looseObject({
  wa_id: id.optional(),
  user_id: id.optional(),
  profile: z.looseObject({ name: z.string().max(1024).optional() }).optional(),
});

const messageSchema = z.looseObject({
  id,
  type: z.string().min(1).max(64),
  timestamp,
  from: id.optional(),
  from_user_id: id.optional(),
  to: id.optional(),
  to_user_id: id.optional(),
  context: z.looseObject({ id: id.optional() }).optional(),
  errors: z.array(z.unknown()).optional(),
});

const errorSchema = z.looseObject({ code: int32.optional(), title: z.string().max(2048).optional() });

const statusSchema = z.looseObject({
  id,
  status: z.string().min(1).max(64),
  timestamp,
  recipient_id: id.optional(),
  biz_opaque_callback_data: z.string().max(512).optional(),
  errors: z.array(errorSchema).optional(),
  pricing: z.looseObject({ category: z.string().max(64).optional() }).optional(),
});

const templateIdSchema = z.union([z.string().max(64), z.number().int().nonnegative()]).transform(String);
const templateChangeSchema = z.looseObject({
  event: z.string().max(64).optional(),
  message_template_id: templateIdSchema.optional(),
  message_template_name: z.string().max(512).optional(),
  message_template_language: z.string().max(32).optional(),
  message_template_category: z.string().max(64).optional(),
  new_quality_score: z.string().max(64).optional(),
  new_category: z.string().max(64).optional(),
});

const valueSchema = z.looseObject({
  metadata: z.looseObject({ phone_number_id: id }),
  contacts: z.array(contactSchema).optional(),
  messages: z.array(messageSchema).optional(),
  message_echoes: z.array(messageSchema).optional(),
  statuses: z.array(statusSchema).optional(),
});

const envelopeSchema = z.looseObject({
  object: z.literal('whatsapp_business_account'),
  entry: z
    .array(
      z.looseObject({
        id: z.union([z.string().max(64), z.number()]).optional(),
        changes: z.array(z.looseObject({ field: z.string(), value: z.unknown() })).max(10_000),
      }),
    )
    .max(10_000),
});

type RawMessage = z.infer<typeof messageSchema> & Record<string, unknown>;

/**
 * Turns a parsed webhook body into the messages and statuses it carries.
 * Throws InvalidNotificationError for anything that is not a WhatsApp
 * Business Account notification of the expected shape.
 */
export function normalize(body: unknown): Notification {
  const env = envelopeSchema.safeParse(body);
  if (!env.success) throw new InvalidNotificationError(describe(env.error, 'not a WhatsApp Business Account notification'));
  const updates = countUpdates(env.data.entry);
  if (updates > MAX_UPDATES_PER_NOTIFICATION) throw new TooManyUpdatesError(updates);
  const out: Notification = { messages: [], statuses: [], ignored: 0 };
  let idx = 0;
  for (const entry of env.data.entry) {
    for (const change of entry.changes) {
      if (TEMPLATE_FIELDS.has(change.field)) {
        const t = templateChangeSchema.safeParse(change.value);
        if (!t.success || entry.id === undefined) throw new InvalidNotificationError(t.success ? `${change.field} change without the account id` : describe(t.error, `invalid ${change.field} change`));
        const v = t.data;
        (out.templates ??= []).push({
          field: change.field,
          wabaId: String(entry.id),
          templateId: v.message_template_id ?? null,
          name: v.message_template_name ?? null,
          language: v.message_template_language ?? null,
          status: change.field === 'message_template_status_update' ? (v.event ?? null) : null,
          quality: v.new_quality_score ?? null,
          category: v.new_category ?? v.message_template_category ?? null,
        });
        continue;
      }
      if (change.field !== 'messages' && change.field !== 'smb_message_echoes') {
        out.ignored++;
        continue;
      }
      const parsed = valueSchema.safeParse(change.value);
      if (!parsed.success) throw new InvalidNotificationError(describe(parsed.error, `invalid ${change.field} change`));
      const value = parsed.data;
      const phoneNumberId = value.metadata.phone_number_id;
      const contacts = contactIndex(value.contacts ?? []);
      // The parsed copies have their timestamps turned into numbers; raw JSON is kept from the originals.
      const raw = change.value as { messages?: Record<string, unknown>[]; message_echoes?: Record<string, unknown>[] };
      (value.messages ?? []).forEach((m, i) => out.messages.push(toInbound(m as RawMessage, raw.messages![i], phoneNumberId, contacts, idx++)));
      (value.message_echoes ?? []).forEach((m, i) => out.messages.push(toEcho(m as RawMessage, raw.message_echoes![i], phoneNumberId, idx++)));
      for (const s of value.statuses ?? []) {
        if (!STATUSES.has(s.status)) continue; // e.g. "deleted", "warning": acknowledged, not acted on
        const err = s.errors?.[0];
        const cb = s.biz_opaque_callback_data;
        out.statuses.push({
          idx: idx++,
          phoneNumberId,
          wamid: s.id,
          status: s.status as StatusItem['status'],
          ts: s.timestamp,
          errorCode: err?.code ?? null,
          errorTitle: err?.title ?? null,
          callbackMessageId: messageIdFromCallbackData(cb),
          pricingCategory: s.pricing?.category ?? null,
        });
      }
    }
  }
  return out;
}

/** Counts updates before any of them is parsed, so an oversized body costs little. */
function countUpdates(entries: { changes: { value: unknown }[] }[]): number {
  let n = 0;
  for (const entry of entries) {
    for (const change of entry.changes) {
      const v = (change.value ?? {}) as Record<string, unknown>;
      const len = (k: string) => (Array.isArray(v[k]) ? (v[k] as unknown[]).length : 0);
      n += Math.max(1, len('messages') + len('message_echoes') + len('statuses'));
    }
  }
  return n;
}

type Contact = z.infer<typeof contactSchema>;

/** A change's contacts, found by wa_id or user_id in constant time. */
interface ContactIndex {
  readonly byWaId: Map<string, Contact>;
  readonly byUserId: Map<string, Contact>;
  /** The only contact of a change that has one (Meta names the sender there). */
  readonly only: Contact | undefined;
}

function contactIndex(contacts: Contact[]): ContactIndex {
  const byWaId = new Map<string, Contact>();
  const byUserId = new Map<string, Contact>();
  // The first contact with an id wins, as a linear search would find it.
  for (const c of contacts) {
    if (c.wa_id && !byWaId.has(c.wa_id)) byWaId.set(c.wa_id, c);
    if (c.user_id && !byUserId.has(c.user_id)) byUserId.set(c.user_id, c);
  }
  return { byWaId, byUserId, only: contacts.length === 1 ? contacts[0] : undefined };
}

function describe(error: z.ZodError, what: string): string {
  const issue = error.issues[0];
  const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
  return `${what}${where}: ${issue?.message ?? 'invalid'}`;
}

function toInbound(m: RawMessage, original: Record<string, unknown>, phoneNumberId: string, contacts: ContactIndex, idx: number): InboundItem {
  const userId = m.from_user_id ?? null;
  const contact = (m.from ? contacts.byWaId.get(m.from) : undefined) ?? (userId ? contacts.byUserId.get(userId) : undefined) ?? contacts.only;
  const waId = m.from ?? contact?.wa_id ?? null;
  const uid = userId ?? contact?.user_id ?? null;
  if (!waId && !uid) throw new InvalidNotificationError(`message ${m.id} names no sender (from or user_id)`);
  return {
    idx,
    phoneNumberId,
    direction: 'inbound',
    author: 'customer',
    contactKey: waId ?? `u:${uid}`,
    waId,
    userId: uid,
    profileName: contact?.profile?.name ?? null,
    ...content(m, original),
    contextWamid: m.type === 'reaction' ? reactionTarget(m) : (m.context?.id ?? null),
    errors: m.errors ?? null,
    ts: m.timestamp,
    answerable: ANSWERABLE.has(m.type),
    wamid: m.id,
  };
}

function toEcho(m: RawMessage, original: Record<string, unknown>, phoneNumberId: string, idx: number): InboundItem {
  const waId = m.to ?? null;
  const uid = m.to_user_id ?? null;
  if (!waId && !uid) throw new InvalidNotificationError(`message echo ${m.id} names no recipient`);
  return {
    idx,
    phoneNumberId,
    direction: 'outbound',
    author: 'operator',
    contactKey: waId ?? `u:${uid}`,
    waId,
    userId: uid,
    profileName: null,
    ...content(m, original),
    contextWamid: m.context?.id ?? null,
    errors: m.errors ?? null,
    ts: m.timestamp,
    answerable: false,
    wamid: m.id,
  };
}

function reactionTarget(m: RawMessage): string | null {
  const r = m.reaction as { message_id?: unknown } | undefined;
  return typeof r?.message_id === 'string' ? r.message_id : null;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** The text form and media fields of each message type. */
function content(m: RawMessage, original: Record<string, unknown>): Pick<InboundItem, 'type' | 'body' | 'media' | 'payload'> {
  const type = m.type;
  const obj = (m[type] ?? null) as Record<string, unknown> | null;
  if (type === 'text') return { type, body: str(obj?.body), media: null, payload: null };
  if (MEDIA.has(type)) {
    const media: Record<string, unknown> = {};
    for (const k of ['id', 'mime_type', 'sha256', 'caption', 'filename', 'animated', 'voice']) {
      if (obj && obj[k] !== undefined) media[k] = obj[k];
    }
    return { type, body: str(obj?.caption), media, payload: null };
  }
  if (type === 'interactive') {
    const kind = str(obj?.type);
    const reply = (kind && obj ? obj[kind] : null) as Record<string, unknown> | null;
    return { type, body: str(reply?.title), media: null, payload: obj };
  }
  if (type === 'button') return { type, body: str(obj?.text), media: null, payload: obj };
  if (type === 'location') {
    const parts = [str(obj?.name), str(obj?.address)].filter(Boolean);
    return { type, body: parts.length ? parts.join(', ') : null, media: null, payload: obj };
  }
  if (type === 'contacts') {
    const list = Array.isArray(m.contacts) ? (m.contacts as { name?: { formatted_name?: unknown } }[]) : [];
    const names = list.map((c) => str(c?.name?.formatted_name)).filter(Boolean);
    return { type, body: names.length ? names.join(', ') : null, media: null, payload: m.contacts ?? null };
  }
  if (type === 'reaction') return { type, body: str(obj?.emoji), media: null, payload: obj };
  if (type === 'order') return { type, body: str(obj?.text), media: null, payload: obj };
  if (type === 'system') return { type, body: str(obj?.body), media: null, payload: obj };
  // unsupported and anything unknown: the whole message as it came
  return { type, body: null, media: null, payload: original };
}
