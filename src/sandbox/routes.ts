import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { request } from 'undici';
import { z } from 'zod';
import type { Db } from '../db/db.ts';
import { sameOriginGuard } from '../api/sameOrigin.ts';
import { addSecurityHeaders, PAGE_HEADERS } from '../api/securityHeaders.ts';
import { SseStreams } from '../api/sse.ts';
import { pageAssets } from '../dashboard/assets.ts';
import { sql } from '../db/db.ts';
import { AppError, badRequest, notFound } from '../shared/errors.ts';
import { sign } from '../webhook/signature.ts';
import { metaJson, type CloudApiSimulator } from './cloudApiSimulator.ts';
import { SANDBOX_PHONE_NUMBER_ID } from './setup.ts';
import { samplePdf, samplePhoto } from './sampleMedia.ts';

/** What the phone page uses. */
export interface SandboxDeps {
  db: Db;
  /** The Cloud API simulator the gateway sends through. */
  simulator: CloudApiSimulator;
  /** Signs the customer messages the page posts to the gateway's own webhook. */
  appSecret: string | null;
}

/** The demo channel and its tenant's name. */
export const SANDBOX_CHANNEL = sql(
  'sandbox_channel',
  `SELECT c.id::text AS id, c.display_phone_number, t.name
   FROM channels c JOIN tenants t ON t.id = c.tenant_id WHERE c.phone_number_id = $1`,
);

/** The demo channel's customers, most recent first. */
export const SANDBOX_CUSTOMERS = sql(
  'sandbox_customers',
  `SELECT wa_id, profile_name FROM contacts
   WHERE channel_id = $1 AND wa_id IS NOT NULL
   ORDER BY last_inbound_at DESC NULLS LAST, id DESC LIMIT 50`,
);

/** One customer's chat as their phone shows it: what they sent, and what the business's number sent them. */
export const SANDBOX_CHAT = sql(
  'sandbox_chat',
  `SELECT m.id::text AS id, m.wamid, m.direction, m.type, m.body, m.media, m.status, m.created_at,
          CASE WHEN m.direction = 'outbound' AND m.type = 'interactive' THEN m.payload END AS payload,
          CASE WHEN m.direction = 'outbound' AND m.type = 'template' THEN
            (SELECT t.components FROM templates t
             WHERE t.channel_id = k.channel_id AND t.name = m.payload->>'name' AND t.language = m.payload->'language'->>'code')
          END AS template_components
   FROM messages m
   JOIN conversations v ON v.id = m.conversation_id
   JOIN contacts k ON k.id = v.contact_id
   WHERE k.channel_id = $1 AND k.contact_key = $2
     AND (m.direction = 'inbound' OR m.status IN ('sent', 'delivered', 'read'))
   ORDER BY m.id DESC LIMIT 200`,
);

/** A file the phone page uploads (the bytes are the body). */
const uploadQuery = z.strictObject({
  type: z.enum(['image', 'audio', 'document', 'video']),
  mime: z.string().trim().max(200).regex(/^[\w.+-]+\/[\w.+-]+(;.*)?$/, 'a MIME type').optional(),
  filename: z.string().trim().min(1).max(240).optional(),
  caption: z.string().max(1024).optional(),
  name: z.string().trim().min(1).max(100).optional(),
});

/** The largest file the phone page may send (Meta's own limits are checked by the gateway, as for any customer). */
const MAX_UPLOAD_BYTES = 16 * 1024 * 1024;

const waIdParam = z.strictObject({ waId: z.string().regex(/^\d{5,20}$/, 'a phone number in digits') });

const sendBody = z
  .strictObject({
    name: z.string().trim().min(1).max(100).optional(),
    type: z.enum(['text', 'image', 'document', 'choice']).default('text'),
    text: z.string().max(4096).optional(),
    caption: z.string().max(1024).optional(),
    filename: z.string().trim().min(1).max(240).optional(),
    /** A tap on a reply button, a list row or a template's quick-reply button of the message `context`. */
    choice: z
      .strictObject({
        kind: z.enum(['button_reply', 'list_reply', 'button']),
        id: z.string().min(1).max(256),
        title: z.string().min(1).max(256),
        description: z.string().max(72).optional(),
        context: z.string().min(1).max(200),
      })
      .optional(),
  })
  .refine((b) => b.type !== 'text' || (b.text ?? '').trim().length > 0, { message: 'text: must not be empty', path: ['text'] })
  .refine((b) => (b.type === 'choice') === (b.choice !== undefined), { message: 'choice: required with type choice, and only then', path: ['choice'] });

// The business marks messages read when a turn starts: remembered so a reloaded phone page shows blue ticks.
const READ_MEMORY = 10_000;
/** Phone pages open at once (each holds one event stream). */
const MAX_PHONE_STREAMS = 200;

/**
 * The sandbox's phone page (`/sandbox`) and its API: write as a customer of
 * the demo channel (the message goes through the real signed webhook path:
 * built as Meta builds it, signed with the app secret, posted to this
 * gateway's /webhooks/whatsapp) and see the business's answers and typing
 * indicator as the Cloud API simulator receives them. Only in sandbox mode.
 */
export async function sandboxRoutes(app: FastifyInstance, deps: SandboxDeps): Promise<void> {
  const { db, simulator } = deps;
  const assets = await pageAssets();
  addSecurityHeaders(app, PAGE_HEADERS);
  // The fake phone takes no key, but another site's page may still not post as a customer.
  sameOriginGuard(app, () => true);
  const streams = new SseStreams(app);
  const readWamids = new Set<string>();
  const offRead = simulator.on('read', (e) => {
    if (e.phoneNumberId !== SANDBOX_PHONE_NUMBER_ID) return;
    readWamids.add(e.messageId);
    if (readWamids.size > READ_MEMORY) readWamids.delete(readWamids.values().next().value as string);
  });
  app.addHook('onClose', async () => offRead());

  const channel = async () => {
    const [row] = await db.query<{ id: string; display_phone_number: string; name: string }>(SANDBOX_CHANNEL, [SANDBOX_PHONE_NUMBER_ID]);
    if (!row) throw new AppError(503, 'unavailable', 'the demo channel is not set up yet; try again in a moment');
    return row;
  };

  app.get('/sandbox', async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(assets.sandboxHtml));

  app.get('/sandbox/api/state', async (_req, reply) => {
    const ch = await channel();
    const customers = await db.query<{ wa_id: string; profile_name: string | null }>(SANDBOX_CUSTOMERS, [ch.id]);
    return reply.header('cache-control', 'no-store').send({
      business: { name: ch.name, displayPhoneNumber: ch.display_phone_number },
      customers: customers.map((c) => ({ waId: c.wa_id, name: c.profile_name })),
    });
  });

  app.get('/sandbox/api/chats/:waId', async (req, reply) => {
    const { waId } = parse(waIdParam, req.params, true);
    const ch = await channel();
    const rows = await db.query<{ id: string; wamid: string | null; direction: string; type: string; body: string | null; media: Record<string, unknown> | null; status: string; created_at: Date; payload: Record<string, unknown> | null; template_components: unknown[] | null }>(
      SANDBOX_CHAT,
      [ch.id, waId],
    );
    return reply.header('cache-control', 'no-store').send({
      messages: rows.reverse().map((m) => ({
        id: m.id,
        wamid: m.wamid,
        fromMe: m.direction === 'inbound',
        type: m.type,
        // An interactive message shows its body and its buttons or rows, which the customer can tap.
        text: m.payload ? interactiveBody(m.payload) : m.body,
        // A template shows its quick-reply buttons, as the template the channel synced has them.
        ...(m.payload ? optionsOf(m.payload) : m.template_components ? { options: quickRepliesOf(m.template_components), listButton: null } : { options: null, listButton: null }),
        filename: typeof m.media?.filename === 'string' ? m.media.filename : null,
        status: m.direction === 'inbound' ? (m.wamid && readWamids.has(m.wamid) ? 'read' : 'delivered') : m.status,
        createdAt: m.created_at.toISOString(),
      })),
    });
  });

  app.post('/sandbox/api/chats/:waId/messages', async (req, reply) => {
    const { waId } = parse(waIdParam, req.params, true);
    const body = parse(sendBody, req.body ?? {}, false);
    const ch = await channel();
    const wamid = `wamid.SANDBOX${randomBytes(12).toString('hex').toUpperCase()}`;
    // A photo or document sent without a file: a real sample file, served by the simulator like any other.
    let media: SandboxMedia | null = null;
    if (body.type === 'image') media = shelve(simulator, await samplePhoto(), 'image/png', null);
    if (body.type === 'document') media = shelve(simulator, samplePdf(`Sample document from ${body.name ?? 'a customer'}`, 'Page two of the sample'), 'application/pdf', body.filename ?? 'document.pdf');
    const notification = buildNotification(ch.display_phone_number, waId, body.name ?? `Customer ${waId.slice(-4)}`, wamid, { type: body.type, text: body.text, caption: body.caption, choice: body.choice }, media);
    await postSigned(app, deps.appSecret, metaJson(notification));
    return reply.code(201).send({ wamid });
  });

  // A file the customer chose on the phone page: its bytes are the body.
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: MAX_UPLOAD_BYTES }, (_req, body, done) => done(null, body));
  app.post('/sandbox/api/chats/:waId/media', { bodyLimit: MAX_UPLOAD_BYTES }, async (req, reply) => {
    const { waId } = parse(waIdParam, req.params, true);
    const q = parse(uploadQuery, req.query ?? {}, false);
    if (!Buffer.isBuffer(req.body) || req.body.length === 0) throw badRequest('invalid_request', 'the body must be the file, as application/octet-stream');
    const ch = await channel();
    const wamid = `wamid.SANDBOX${randomBytes(12).toString('hex').toUpperCase()}`;
    const mime = q.mime ?? 'application/octet-stream';
    const media = shelve(simulator, req.body, mime, q.type === 'document' ? (q.filename ?? 'document') : null);
    const notification = buildNotification(ch.display_phone_number, waId, q.name ?? `Customer ${waId.slice(-4)}`, wamid, { type: q.type, caption: q.caption }, media);
    await postSigned(app, deps.appSecret, metaJson(notification));
    return reply.code(201).send({ wamid });
  });

  app.get('/sandbox/api/events', async (_req, reply) => {
    if (streams.size >= MAX_PHONE_STREAMS) throw new AppError(429, 'too_many_streams', 'too many sandbox pages open');
    const offs: (() => void)[] = [];
    const stream = streams.start(reply, PAGE_HEADERS, () => offs.forEach((off) => off()));
    offs.push(...forward(simulator, (event, data) => stream.send(event, data)));
    if (stream.closed) offs.forEach((off) => off());
    stream.send('ready', {});
    return reply;
  });
}

/** The simulator's sends and read receipts of the demo channel, as the phone page's events. */
function forward(simulator: CloudApiSimulator, send: (event: string, data: unknown) => void): (() => void)[] {
  return [
    simulator.on('send', (e) => {
      if (e.phoneNumberId === SANDBOX_PHONE_NUMBER_ID) {
        send('reply', { waId: e.to, wamid: e.wamid, type: e.type, text: e.body, options: e.message.options, listButton: e.message.listButton, template: e.template });
      }
    }),
    simulator.on('read', (e) => {
      if (e.phoneNumberId === SANDBOX_PHONE_NUMBER_ID) send('read', { wamid: e.messageId, typing: e.typing });
    }),
  ];
}

function parse<T extends z.ZodType>(schema: T, input: unknown, isPath: boolean): z.infer<T> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  if (isPath) throw notFound('customer');
  const issue = r.error.issues[0];
  throw badRequest('invalid_request', `${issue.path.length ? issue.path.join('.') + ': ' : ''}${issue.message}`);
}

/** A file on the simulator's shelf, as the webhook names it. */
interface SandboxMedia {
  id: string;
  mime: string;
  sha256: string;
  filename: string | null;
}

/** Puts a file on the simulator's shelf for the demo channel. */
function shelve(simulator: CloudApiSimulator, bytes: Buffer, mime: string, filename: string | null): SandboxMedia {
  const s = simulator.media.add(bytes, { mime, phoneNumberId: SANDBOX_PHONE_NUMBER_ID });
  return { id: s.id, mime, sha256: s.sha256Base64, filename };
}

/** A `messages` notification as Meta sends it for one customer message. */
function buildNotification(
  displayPhoneNumber: string,
  waId: string,
  name: string,
  wamid: string,
  body: { type: string; text?: string; caption?: string; choice?: z.infer<typeof sendBody>['choice'] },
  media: SandboxMedia | null,
): Record<string, unknown> {
  const message: Record<string, unknown> = { from: waId, id: wamid, timestamp: String(Math.floor(Date.now() / 1000)), type: body.type };
  if (body.type === 'choice' && body.choice) {
    const c = body.choice;
    message.context = { from: displayPhoneNumber.replace(/\D/g, ''), id: c.context };
    if (c.kind === 'button') {
      // A template's quick-reply button: Meta sends its text as both text and payload.
      message.type = 'button';
      message.button = { payload: c.id, text: c.title };
    } else {
      message.type = 'interactive';
      message.interactive = { type: c.kind, [c.kind]: { id: c.id, title: c.title, ...(c.description ? { description: c.description } : {}) } };
    }
  } else if (body.type === 'text') message.text = { body: body.text };
  else if (media) {
    message[body.type] = {
      id: media.id,
      mime_type: media.mime,
      sha256: media.sha256,
      ...(body.type === 'audio' ? { voice: true } : {}),
      ...(media.filename ? { filename: media.filename } : {}),
      ...(body.caption && body.type !== 'audio' ? { caption: body.caption } : {}),
    };
  }
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: 'SANDBOX_WABA',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: displayPhoneNumber.replace(/\D/g, ''), phone_number_id: SANDBOX_PHONE_NUMBER_ID },
              contacts: [{ profile: { name }, wa_id: waId }],
              messages: [message],
            },
          },
        ],
      },
    ],
  };
}

/** Posts the bytes, signed with the app secret, to this gateway's own webhook: the path Meta's notifications take. */
async function postSigned(app: FastifyInstance, secret: string | null, bytes: string): Promise<void> {
  if (!secret) throw new AppError(503, 'unavailable', 'no app secret configured');
  const addr = app.server.address() as AddressInfo | null;
  if (!addr || typeof addr !== 'object') throw new AppError(503, 'unavailable', 'the server is not listening');
  const host = addr.address === '0.0.0.0' || addr.address === '::' ? '127.0.0.1' : addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const res = await request(`http://${host}:${addr.port}/webhooks/whatsapp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(bytes, secret) },
    body: bytes,
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new AppError(502, 'webhook_refused', `the gateway's webhook answered ${res.statusCode}: ${text.slice(0, 200)}`);
}

/** The body text of a stored interactive message. */
function interactiveBody(payload: Record<string, unknown>): string | null {
  const text = (payload.body as { text?: unknown } | undefined)?.text;
  return typeof text === 'string' ? text : null;
}

/** The buttons or list rows of a stored interactive message, as the phone shows them. */
function optionsOf(payload: Record<string, unknown>): { options: { id: string; title: string; description?: string }[]; listButton: string | null } {
  const action = (payload.action ?? {}) as { button?: unknown; buttons?: { reply?: { id: string; title: string } }[]; sections?: { rows?: { id: string; title: string; description?: string }[] }[] };
  if (payload.type === 'button') return { options: (action.buttons ?? []).map((b) => ({ id: b.reply?.id ?? '', title: b.reply?.title ?? '' })), listButton: null };
  return { options: (action.sections ?? []).flatMap((s) => s.rows ?? []), listButton: typeof action.button === 'string' ? action.button : 'Options' };
}

/** A template's quick-reply buttons (Meta's components): the customer taps one, and its text comes back as payload and text. */
function quickRepliesOf(components: unknown[]): { id: string; title: string }[] | null {
  const buttons = components.find((c): c is { buttons?: unknown } => typeof c === 'object' && c !== null && String((c as { type?: unknown }).type).toUpperCase() === 'BUTTONS');
  const list = Array.isArray(buttons?.buttons) ? (buttons.buttons as { type?: unknown; text?: unknown }[]) : [];
  const quick = list.filter((b) => String(b.type).toUpperCase() === 'QUICK_REPLY' && typeof b.text === 'string').map((b) => ({ id: String(b.text), title: String(b.text) }));
  return quick.length ? quick : null;
}
