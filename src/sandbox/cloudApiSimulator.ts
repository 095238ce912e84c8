import { EventEmitter } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Pool } from 'undici';
import { sign } from '../webhook/signature.ts';
import { checkInteractive, checkMedia, checkReaction, checkTemplate, parseUpload, SimError, type CheckedMessage, type SimTemplate } from './simulatorMessages.ts';

export type { SimTemplate } from './simulatorMessages.ts';
import { MediaShelf } from './simulatorMedia.ts';

/** Milliseconds after an accepted send at which each status is posted back; null: that status is not posted. */
export interface StatusDelays {
  sent: number | null;
  delivered: number | null;
  read: number | null;
}

/**
 * One scripted answer, used by the next request (of the given kind, when
 * `on` is set) instead of the normal handling:
 * - `{ status, code?, title?, details? }`: a Meta error body (`code` given)
 *   or, without `code`, a plain-text body as a proxy would send; `body`
 *   replaces the body verbatim (a malformed or unexpected answer);
 * - `{ delayMs }` alone: handled normally after the delay;
 * - `{ drop: true }`: the socket is closed without an answer;
 * - `{ asyncFailure: { code, title } }`: a send is accepted (200 and a
 *   wamid), then only a `failed` status with that error is posted, as Meta
 *   does for errors it finds after accepting (131026 undeliverable, …).
 * `delayMs` may accompany any of them.
 */
export type ScriptedResponse = { on?: 'send' | 'read'; delayMs?: number } & (
  | { status: number; code?: number; title?: string; details?: string; subcode?: number; body?: string }
  | { drop: true }
  | { asyncFailure: AsyncFailure }
  | Record<never, never>
);

/** The error of a `failed` status. */
export interface AsyncFailure {
  code: number;
  title: string;
  details?: string;
}

type PostedStatus = 'sent' | 'delivered' | 'read' | 'failed';

/** How the simulator listens, answers and posts statuses. */
export interface SimulatorOptions {
  /** Default 0: a free port. */
  port?: number;
  host?: '127.0.0.1';
  /** Where the statuses of accepted sends are posted, as Meta's `messages` webhook. */
  webhookUrl?: string;
  /** Signs the posted statuses (`X-Hub-Signature-256`); required with webhookUrl. */
  appSecret?: string;
  /** Default { sent: 0, delivered: 20, read: 100 }; null: no statuses are posted. A `failed` status goes at `sent`'s delay (or 0). */
  statusDelaysMs?: StatusDelays | null;
  /** A standing delay before every answer (default 0). */
  latencyMs?: number;
  /** When set, each phone_number_id must be listed and called with its bearer token. */
  tokens?: Map<string, string>;
  /** Requests remembered, the oldest dropped first (default 10,000). */
  maxRecorded?: number;
  /** The `display_phone_number` in posted statuses (default 15550000000). */
  displayPhoneNumber?: string;
  /** Templates a page of GET /{waba-id}/message_templates (default 25, as Meta). */
  templatePageSize?: number;
  /**
   * How long a status the webhook refused (connection refused, 5xx) is tried
   * again, with backoff up to 2 s, before it is reported as a statusError
   * (default 70 s: Meta retries for longer, at least a minute is what a
   * restarting gateway needs).
   */
  statusRetryForMs?: number;
}

/** A request as the simulator received it. */
export interface RecordedRequest {
  method: string;
  path: string;
  phoneNumberId: string | null;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or the raw text when it was not JSON. */
  body: unknown;
  /** Epoch ms of arrival. */
  at: number;
  /** The HTTP status answered; null while pending or when the socket was dropped. */
  status: number | null;
}

/** What the simulator reports as it works. */
export interface SimulatorEvents {
  /**
   * A send was accepted. `body` is the text, or the text form of another
   * type (a caption, an emoji, a template's filled-in body); `message` says
   * what else the phone shows (buttons, list rows, media).
   */
  send: {
    phoneNumberId: string;
    to: string | null;
    recipient: string | null;
    body: string;
    wamid: string;
    callbackData: string | null;
    type: string;
    message: CheckedMessage;
    /** The wamid the message quotes (`context.message_id`). */
    contextWamid: string | null;
    /** The template's name, for template sends. */
    template: string | null;
  };
  /** A message was marked read. */
  read: { phoneNumberId: string; messageId: string; typing: boolean };
  /** A status notification was posted to the webhook and answered 2xx. */
  status: { phoneNumberId: string; wamid: string; status: PostedStatus };
  /** Posting a status failed after its retries. */
  statusError: { phoneNumberId: string; wamid: string; status: PostedStatus; error: Error };
}

/** Counters since start (or the last reset). */
export interface SimulatorStats {
  /** TCP connections accepted: with keep-alive, far fewer than requests. */
  connections: number;
  requests: number;
  sends: number;
  reads: number;
  errors: number;
  inFlight: number;
  maxInFlight: number;
  statusesPosted: number;
  statusFailures: number;
}

/** A running simulator; see startCloudApiSimulator. */
export interface CloudApiSimulator {
  /** http://127.0.0.1:<port>: use it (optionally with a version segment) as the Cloud API base URL. */
  readonly url: string;
  readonly port: number;
  /** Queues answers for the next requests, in order. */
  script(...responses: ScriptedResponse[]): void;
  /** Answers still queued. */
  readonly scripted: number;
  /** Changes the standing latency. */
  setLatency(ms: number): void;
  /**
   * An outage: stops listening and drops every open connection, so sends
   * are refused (ECONNREFUSED) until `comeBack`. Status webhooks already
   * owed are still posted.
   */
  goDown(): Promise<void>;
  /** Listens again on the same port. */
  comeBack(): Promise<void>;
  /** The remembered requests, oldest first. */
  requests(): RecordedRequest[];
  /** Forgets remembered requests, queued answers and counters. */
  reset(): void;
  /**
   * Sets a WhatsApp Business Account's templates, as GET
   * /{waba-id}/message_templates lists them (`pageSize` a page) and as
   * template sends are checked; `phoneNumberIds` are the account's numbers.
   */
  setTemplates(wabaId: string, templates: SimTemplate[], phoneNumberIds?: string[]): void;
  /** The account's templates now. */
  templates(wabaId: string): SimTemplate[];
  /**
   * Changes a template's status and posts the `message_template_status_update`
   * webhook, as Meta does when it approves, rejects, pauses or disables one.
   */
  setTemplateStatus(wabaId: string, name: string, language: string, status: string, reason?: string): Promise<void>;
  /** A file uploaded through POST /{phone-number-id}/media, by its id. */
  upload(id: string): { bytes: Buffer; mimeType: string; filename: string } | undefined;
  stats(): SimulatorStats;
  on<K extends keyof SimulatorEvents>(name: K, fn: (e: SimulatorEvents[K]) => void): () => void;
  /** Media customers send: served through `GET /{media-id}` and its URL, as the Cloud API does. */
  readonly media: MediaShelf;
  /** The next event of that name matching `predicate`; rejects after timeoutMs (default 10 s). */
  once<K extends keyof SimulatorEvents>(name: K, predicate?: (e: SimulatorEvents[K]) => boolean, timeoutMs?: number): Promise<SimulatorEvents[K]>;
  close(): Promise<void>;
}

const ROUTE = /^\/(?:v\d+(?:\.\d+)?\/)?([^/?]+)\/(messages|media|message_templates)\/?(?:\?(.*))?$/;
const MAX_BODY = 1 << 20;
/** Media uploads: Meta takes documents up to 100 MB; the simulator keeps them in memory, so less. */
const MAX_UPLOAD = 32 << 20;
const MAX_TEXT = 4096;
const STATUS_RETRY_FOR_MS = 70_000;
const STATUS_RETRY_MAX_WAIT_MS = 2_000;
// Meta posts webhooks with plenty of concurrency; a small pool would hold statuses back under load.
const STATUS_CONNECTIONS = 256;

interface StatusTarget {
  phoneNumberId: string;
  wamid: string;
  to: string | null;
  recipient: string | null;
  callbackData: string | null;
  failure: AsyncFailure | null;
  /** A template's category (its pricing category); null: service. */
  category: string | null;
}


/**
 * A fake WhatsApp Cloud API on loopback for the sandbox, the tests and the
 * benchmark: it takes text, template, interactive, media and reaction sends,
 * media uploads and mark-read requests the way Meta does (simulatorMessages.ts
 * checks what Meta checks), answers with wamids or Meta-shaped errors, can be
 * scripted to fail, serves a business account's templates page by page, and
 * posts each accepted send's statuses back as signed `messages` webhooks.
 * It does little per request, since the benchmark sends thousands a second
 * through it.
 */
export async function startCloudApiSimulator(opts: SimulatorOptions = {}): Promise<CloudApiSimulator> {
  const host = opts.host ?? '127.0.0.1';
  if (host !== '127.0.0.1') throw new Error(`the simulator listens on 127.0.0.1 only, not ${String(host)}`);
  let latencyMs = nonNegative('latencyMs', opts.latencyMs ?? 0);
  const maxRecorded = opts.maxRecorded ?? 10_000;
  if (!Number.isInteger(maxRecorded) || maxRecorded < 1) throw new RangeError(`maxRecorded must be a positive integer, got ${maxRecorded}`);
  const delays = opts.statusDelaysMs === undefined ? { sent: 0, delivered: 20, read: 100 } : opts.statusDelaysMs;
  if (delays) for (const k of ['sent', 'delivered', 'read'] as const) if (delays[k] !== null) nonNegative(`statusDelaysMs.${k}`, delays[k]!);
  const displayPhoneNumber = opts.displayPhoneNumber ?? '15550000000';
  const templatePageSize = opts.templatePageSize ?? 25;
  const templateStore = new Map<string, SimTemplate[]>();
  const numberWaba = new Map<string, string>();
  const uploads = new Map<string, { bytes: Buffer; mimeType: string; filename: string }>();

  const statusRetryForMs = opts.statusRetryForMs ?? STATUS_RETRY_FOR_MS;
  let webhook: { pool: Pool; path: string; secret: string } | null = null;
  if (opts.webhookUrl) {
    if (!opts.appSecret) throw new Error('the simulator needs appSecret to sign the statuses it posts to webhookUrl');
    let u: URL;
    try {
      u = new URL(opts.webhookUrl);
    } catch {
      throw new Error(`webhookUrl is not a URL: ${opts.webhookUrl}`);
    }
    if (u.protocol !== 'http:') throw new Error(`webhookUrl must be http on loopback: ${opts.webhookUrl}`);
    webhook = { pool: new Pool(u.origin, { connections: STATUS_CONNECTIONS, keepAliveTimeout: 30_000 }), path: u.pathname + u.search, secret: opts.appSecret };
  }

  const tag = randomBytes(4).toString('hex').toUpperCase();
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const queue: ScriptedResponse[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let recorded: RecordedRequest[] = [];
  let head = 0;
  let seq = 0;
  let closed = false;
  const stats: SimulatorStats = { connections: 0, requests: 0, sends: 0, reads: 0, errors: 0, inFlight: 0, maxInFlight: 0, statusesPosted: 0, statusFailures: 0 };

  function later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  }

  function record(r: RecordedRequest): void {
    if (recorded.length < maxRecorded) recorded.push(r);
    else {
      recorded[head] = r;
      head = (head + 1) % maxRecorded;
    }
  }

  const media = new MediaShelf(() => `http://${host}:${port}`);

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (media.handle(req, res, checkToken)) return;
    stats.requests++;
    if (++stats.inFlight > stats.maxInFlight) stats.maxInFlight = stats.inFlight;
    res.once('close', () => stats.inFlight--);
    const chunks: Buffer[] = [];
    let size = 0;
    const max = /\/media\/?(?:\?|$)/.test(req.url ?? '') ? MAX_UPLOAD : MAX_BODY;
    req.on('data', (chunk: Buffer) => {
      if (size > max) return; // already answered 413; the rest is read and dropped
      size += chunk.length;
      if (size > max) {
        chunks.length = 0;
        stats.errors++;
        reply(res, null, 413, errorBody(new SimError(413, 100, 'request body too large'), tag, seq++));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (size <= max) handle(req, res, Buffer.concat(chunks));
    });
  }

  function handle(req: IncomingMessage, res: ServerResponse, bytes: Buffer): void {
    const m = ROUTE.exec(req.url ?? '');
    const phoneNumberId = m ? decodeURIComponent(m[1]) : null;
    const endpoint = m?.[2] ?? null;
    const upload = endpoint === 'media' ? parseUpload(req.headers['content-type'], bytes) : null;
    const raw = upload ? '' : bytes.toString('utf8');
    let body: unknown = upload ? { upload: { mimeType: upload.mimeType, filename: upload.filename, size: upload.bytes.length } } : raw;
    if (!upload) {
      try {
        body = raw.length > 0 ? JSON.parse(raw) : undefined;
      } catch {
        body = raw;
      }
    }
    const rec: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', phoneNumberId, headers: req.headers, body, at: Date.now(), status: null };
    record(rec);

    const kind = isObject(body) && body.status === 'read' ? 'read' : isObject(body) ? 'send' : null;
    const scripted = takeScripted(kind);
    const delay = latencyMs + (scripted?.delayMs ?? 0);
    const respond = () => {
      if (closed) return;
      if (scripted && 'drop' in scripted) {
        req.socket.destroy();
        return;
      }
      if (scripted && 'status' in scripted) {
        stats.errors++;
        if (scripted.body !== undefined) return reply(res, rec, scripted.status, scripted.body);
        if (scripted.code === undefined) return reply(res, rec, scripted.status, `HTTP ${scripted.status} from the simulator`, 'text/plain');
        const err = new SimError(scripted.status, scripted.code, scripted.title ?? `error ${scripted.code}`, scripted.details, scripted.subcode);
        return reply(res, rec, err.httpStatus, errorBody(err, tag, seq++));
      }
      try {
        if (req.method === 'GET' && endpoint === 'message_templates' && phoneNumberId !== null) {
          return reply(res, rec, 200, listTemplates(phoneNumberId, new URLSearchParams(m?.[3] ?? '')));
        }
        if (req.method !== 'POST' || phoneNumberId === null || endpoint === 'message_templates') throw new SimError(404, 100, `Unsupported ${req.method} request to ${req.url}`);
        checkToken(phoneNumberId, req.headers.authorization);
        if (endpoint === 'media') return reply(res, rec, 200, storeUpload(upload));
        if (!isObject(body)) throw new SimError(400, 100, 'The request body must be a JSON object', 'Invalid parameter');
        if (body.messaging_product !== 'whatsapp') throw new SimError(400, 100, 'Invalid parameter', 'The parameter messaging_product is required and must be "whatsapp".');
        const failure = scripted && 'asyncFailure' in scripted ? scripted.asyncFailure : null;
        reply(res, rec, 200, kind === 'read' ? markRead(phoneNumberId, body) : sendMessage(phoneNumberId, body, failure));
      } catch (e) {
        if (!(e instanceof SimError)) throw e;
        stats.errors++;
        reply(res, rec, e.httpStatus, errorBody(e, tag, seq++));
      }
    };
    if (delay > 0) later(delay, respond);
    else respond();
  }

  function takeScripted(kind: 'send' | 'read' | null): ScriptedResponse | undefined {
    if (queue.length === 0) return undefined;
    // A scripted async failure only makes sense for a send.
    const i = queue.findIndex((s) => {
      const on = s.on ?? ('asyncFailure' in s ? 'send' : undefined);
      return on === undefined || on === kind;
    });
    return i < 0 ? undefined : queue.splice(i, 1)[0];
  }

  function checkToken(phoneNumberId: string, authorization: string | undefined): void {
    if (!opts.tokens) return;
    const expected = opts.tokens.get(phoneNumberId);
    if (expected === undefined) {
      throw new SimError(400, 100, `Unsupported post request. Object with ID '${phoneNumberId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`, undefined, 33);
    }
    if (!authorization || !authorization.startsWith('Bearer ') || authorization.slice(7) !== expected) {
      throw new SimError(401, 190, authorization ? 'Invalid OAuth access token - Cannot parse access token' : 'An active access token must be used to query information about the current user.');
    }
  }

  function listTemplates(wabaId: string, q: URLSearchParams): string {
    const all = templateStore.get(wabaId);
    if (!all) throw new SimError(400, 100, `Unsupported get request. Object with ID '${wabaId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`, undefined, 33);
    const limit = Math.min(Math.max(Number(q.get('limit')) || templatePageSize, 1), templatePageSize);
    const after = q.get('after');
    const start = after ? Number(Buffer.from(after, 'base64url').toString('utf8')) : 0;
    if (!Number.isInteger(start) || start < 0) throw new SimError(400, 100, 'Invalid parameter', 'after is not a valid cursor');
    const data = all.slice(start, start + limit);
    const cursor = (n: number) => Buffer.from(String(n)).toString('base64url');
    const paging: Record<string, unknown> = { cursors: { before: cursor(start), after: cursor(start + data.length) } };
    if (start + data.length < all.length) paging.next = `http://${host}:${port}/v25.0/${wabaId}/message_templates?limit=${limit}&after=${cursor(start + data.length)}`;
    return JSON.stringify({ data, paging });
  }

  function storeUpload(upload: ReturnType<typeof parseUpload>): string {
    if (!upload) throw new SimError(400, 100, 'Invalid parameter', 'The request must be multipart/form-data with a file part.');
    if (upload.product !== 'whatsapp') throw new SimError(400, 100, 'Invalid parameter', 'The parameter messaging_product is required and must be "whatsapp".');
    if (upload.bytes.length === 0) throw new SimError(400, 131053, 'Media upload error', 'The file is empty.');
    const id = `${9_000_000_000_000 + seq++}`;
    uploads.set(id, { bytes: upload.bytes, mimeType: upload.mimeType, filename: upload.filename });
    return JSON.stringify({ id });
  }

  function templatesFor(phoneNumberId: string): SimTemplate[] {
    const waba = numberWaba.get(phoneNumberId);
    if (waba) return templateStore.get(waba) ?? [];
    return [...templateStore.values()].flat();
  }

  /** The message object of a send, checked as Meta checks it. */
  function checkMessage(phoneNumberId: string, type: string, body: Record<string, unknown>): CheckedMessage {
    const obj = body[type];
    if (type === 'text') {
      if (!isObject(obj) || typeof obj.body !== 'string' || obj.body.trim().length === 0) throw new SimError(400, 100, 'Invalid parameter', "The parameter text['body'] is required.");
      if (obj.preview_url !== undefined && typeof obj.preview_url !== 'boolean') throw new SimError(400, 100, 'Invalid parameter', "text['preview_url'] must be a boolean.");
      if (obj.body.length > MAX_TEXT && [...obj.body].length > MAX_TEXT) throw new SimError(400, 100, 'Invalid parameter', `Param text['body'] must be at most ${MAX_TEXT} characters long.`);
      return { text: obj.body, options: null, listButton: null, media: null };
    }
    if (type === 'interactive') return checkInteractive(obj);
    if (type === 'image' || type === 'document') return checkMedia(type, obj, (id) => uploads.has(id));
    if (type === 'reaction') return checkReaction(obj);
    if (type === 'template') return checkTemplate(obj, templatesFor(phoneNumberId));
    throw new SimError(400, 100, 'Invalid parameter', `The simulator takes text, interactive, image, document, reaction and template messages, not ${JSON.stringify(type)}.`);
  }

  function sendMessage(phoneNumberId: string, body: Record<string, unknown>, failure: AsyncFailure | null): string {
    const to = typeof body.to === 'string' && body.to.length > 0 ? body.to : null;
    const recipient = typeof body.recipient === 'string' && body.recipient.length > 0 ? body.recipient : null;
    if ((to === null) === (recipient === null)) throw new SimError(400, 100, 'Invalid parameter', 'Exactly one of the parameters to and recipient is required.');
    if (body.recipient_type !== undefined && body.recipient_type !== 'individual') throw new SimError(400, 100, 'Invalid parameter', 'recipient_type must be "individual".');
    const type = typeof body.type === 'string' ? body.type : 'text';
    const message = checkMessage(phoneNumberId, type, body);
    const context = body.context;
    if (context !== undefined && (!isObject(context) || typeof context.message_id !== 'string')) throw new SimError(400, 100, 'Invalid parameter', "context['message_id'] must be a string.");
    const contextWamid = isObject(context) ? (context.message_id as string) : null;
    const cb = body.biz_opaque_callback_data;
    if (cb !== undefined && (typeof cb !== 'string' || Buffer.byteLength(cb) > 512)) throw new SimError(400, 100, 'Invalid parameter', 'biz_opaque_callback_data must be a string of at most 512 bytes.');

    const wamid = `wamid.SIM${tag}${(seq++).toString(36).toUpperCase()}`;
    stats.sends++;
    const callbackData = typeof cb === 'string' ? cb : null;
    const template = type === 'template' ? String((body.template as { name?: unknown }).name) : null;
    events.emit('send', { phoneNumberId, to, recipient, body: message.text, wamid, callbackData, type, message, contextWamid, template } satisfies SimulatorEvents['send']);
    if (webhook && delays) {
      const category = template ? (templatesFor(phoneNumberId).find((t) => t.name === template)?.category.toLowerCase() ?? null) : null;
      const target = { phoneNumberId, wamid, to, recipient, callbackData, failure, category };
      if (failure) later(delays.sent ?? 0, () => postStatus(target, 'failed', 0));
      else {
        for (const status of ['sent', 'delivered', 'read'] as const) {
          const d = delays[status];
          if (d !== null) later(d, () => postStatus(target, status, 0));
        }
      }
    }
    const contact = to !== null ? `{"input":${JSON.stringify(to)},"wa_id":${JSON.stringify(to)}}` : `{"input":${JSON.stringify(recipient)},"user_id":${JSON.stringify(recipient)}}`;
    return `{"messaging_product":"whatsapp","contacts":[${contact}],"messages":[{"id":"${wamid}"}]}`;
  }

  function markRead(phoneNumberId: string, body: Record<string, unknown>): string {
    if (typeof body.message_id !== 'string' || body.message_id.length === 0) throw new SimError(400, 100, 'Invalid parameter', 'The parameter message_id is required.');
    const ti = body.typing_indicator;
    if (ti !== undefined && (!isObject(ti) || ti.type !== 'text')) throw new SimError(400, 100, 'Invalid parameter', 'typing_indicator.type must be "text".');
    stats.reads++;
    events.emit('read', { phoneNumberId, messageId: body.message_id, typing: ti !== undefined } satisfies SimulatorEvents['read']);
    return '{"success":true}';
  }

  function postStatus(target: StatusTarget, status: PostedStatus, attempt: number, waitedMs = 0): void {
    if (closed || !webhook) return;
    const wh = webhook;
    const { phoneNumberId, wamid, to, recipient, callbackData, failure } = target;
    const item: Record<string, unknown> = { id: wamid, status, timestamp: String(Math.floor(Date.now() / 1000)) };
    if (to !== null) item.recipient_id = to;
    else item.recipient_user_id = recipient;
    if (callbackData !== null) item.biz_opaque_callback_data = callbackData;
    if (status === 'sent' || status === 'delivered') {
      item.pricing = target.category
        ? { billable: true, pricing_model: 'PMP', category: target.category, type: 'regular' }
        : { billable: false, pricing_model: 'PMP', category: 'service', type: 'free_customer_service' };
    }
    if (status === 'failed' && failure) {
      item.errors = [
        {
          code: failure.code,
          title: failure.title,
          message: failure.title,
          error_data: { details: failure.details ?? failure.title },
          href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/',
        },
      ];
    }
    const payload = {
      object: 'whatsapp_business_account',
      entry: [
        {
          id: 'SIMULATED_WABA',
          changes: [
            {
              value: { messaging_product: 'whatsapp', metadata: { display_phone_number: displayPhoneNumber, phone_number_id: phoneNumberId }, statuses: [item] },
              field: 'messages',
            },
          ],
        },
      ],
    };
    const bytes = metaJson(payload);
    const failed = (error: Error) => {
      if (closed) return;
      // The waits add up to statusRetryForMs (counted by plan, not by clock, so a busy machine tries as often).
      const wait = Math.min(STATUS_RETRY_MAX_WAIT_MS, 200 * 2 ** attempt);
      if (waitedMs + wait <= statusRetryForMs) {
        later(wait, () => postStatus(target, status, attempt + 1, waitedMs + wait));
        return;
      }
      stats.statusFailures++;
      events.emit('statusError', { phoneNumberId, wamid, status, error } satisfies SimulatorEvents['statusError']);
    };
    wh.pool
      .request({
        method: 'POST',
        path: wh.path,
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(bytes, wh.secret) },
        body: bytes,
      })
      .then(async (res) => {
        await res.body.dump();
        if (res.statusCode >= 200 && res.statusCode < 300) {
          stats.statusesPosted++;
          events.emit('status', { phoneNumberId, wamid, status } satisfies SimulatorEvents['status']);
        } else {
          failed(new Error(`webhook answered ${res.statusCode}`));
        }
      })
      .catch((err: unknown) => failed(err instanceof Error ? err : new Error(String(err))));
  }

  /** Posts a template webhook (one attempt: a sync reads every template again anyway). */
  async function postTemplateChange(wabaId: string, field: string, value: Record<string, unknown>): Promise<void> {
    if (!webhook) throw new Error('the simulator has no webhookUrl to post template webhooks to');
    const payload = { object: 'whatsapp_business_account', entry: [{ id: wabaId, time: Math.floor(Date.now() / 1000), changes: [{ value, field }] }] };
    const bytes = metaJson(payload);
    const res = await webhook.pool.request({
      method: 'POST',
      path: webhook.path,
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(bytes, webhook.secret) },
      body: bytes,
    });
    await res.body.dump();
    if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`webhook answered ${res.statusCode}`);
  }

  let port = 0;
  const server = createServer({ keepAliveTimeout: 30_000 }, onRequest);
  server.headersTimeout = 35_000;
  server.on('connection', () => stats.connections++);
  const listen = (p: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(opts.port ?? 0);
  port = (server.address() as AddressInfo).port;
  let down = false;

  return {
    url: `http://${host}:${port}`,
    port,
    media,
    script(...responses) {
      for (const r of responses) {
        if (r.delayMs !== undefined) nonNegative('delayMs', r.delayMs);
        if ('status' in r && (!Number.isInteger(r.status) || r.status < 100 || r.status > 599)) throw new RangeError(`scripted status must be an HTTP status, got ${r.status}`);
        if ('asyncFailure' in r && !Number.isInteger(r.asyncFailure.code)) throw new RangeError(`asyncFailure.code must be an integer, got ${r.asyncFailure.code}`);
      }
      queue.push(...responses);
    },
    get scripted() {
      return queue.length;
    },
    setLatency(ms) {
      latencyMs = nonNegative('latencyMs', ms);
    },
    async goDown() {
      if (down || closed) return;
      down = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await stopped;
    },
    async comeBack() {
      if (!down || closed) return;
      await listen(port);
      down = false;
    },
    requests() {
      return head === 0 ? recorded.slice() : recorded.slice(head).concat(recorded.slice(0, head));
    },
    reset() {
      uploads.clear();
      recorded = [];
      head = 0;
      queue.length = 0;
      Object.assign(stats, { connections: 0, requests: 0, sends: 0, reads: 0, errors: 0, maxInFlight: stats.inFlight, statusesPosted: 0, statusFailures: 0 });
    },
    stats() {
      return { ...stats };
    },
    setTemplates(wabaId, list, phoneNumberIds = []) {
      templateStore.set(wabaId, list.map((t) => structuredClone(t)));
      for (const n of phoneNumberIds) numberWaba.set(n, wabaId);
    },
    templates(wabaId) {
      return structuredClone(templateStore.get(wabaId) ?? []);
    },
    async setTemplateStatus(wabaId, name, language, status, reason = 'NONE') {
      const t = templateStore.get(wabaId)?.find((x) => x.name === name && x.language === language);
      if (!t) throw new Error(`no template ${name} (${language}) in ${wabaId}`);
      t.status = status;
      await postTemplateChange(wabaId, 'message_template_status_update', {
        event: status,
        message_template_id: Number(t.id),
        message_template_name: name,
        message_template_language: language,
        message_template_category: t.category,
        reason,
      });
    },
    upload(id) {
      return uploads.get(id);
    },
    on(name, fn) {
      events.on(name, fn);
      return () => events.off(name, fn);
    },
    once(name, predicate, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const fn = (e: SimulatorEvents[typeof name]) => {
          if (predicate && !predicate(e)) return;
          clearTimeout(timer);
          events.off(name, fn);
          resolve(e);
        };
        const timer = setTimeout(() => {
          events.off(name, fn);
          reject(new Error(`no '${name}' event within ${timeoutMs} ms`));
        }, timeoutMs);
        events.on(name, fn);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      if (!down) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      if (webhook) await webhook.pool.destroy();
    },
  };
}

function reply(res: ServerResponse, rec: RecordedRequest | null, status: number, body: string, type = 'application/json'): void {
  if (res.headersSent || res.destroyed) return;
  if (rec) rec.status = status;
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Meta's error body: the message carries the code as "(#code) title". */
function errorBody(e: SimError, tag: string, n: number): string {
  const error: Record<string, unknown> = {
    message: `(#${e.code}) ${e.title}`,
    type: 'OAuthException',
    code: e.code,
  };
  if (e.subcode !== undefined) error.error_subcode = e.subcode;
  error.error_data = { messaging_product: 'whatsapp', details: e.details ?? e.title };
  error.fbtrace_id = `A${tag}${n.toString(36)}`;
  return JSON.stringify({ error });
}

/**
 * JSON as Meta writes its webhooks: non-ASCII characters as \uXXXX and "/"
 * as "\/". The signature is over exactly these bytes, so a receiver that
 * parses and re-serialises before checking it fails, as it would with Meta.
 */
export function metaJson(value: unknown): string {
  const s = JSON.stringify(value);
  return /[^\x00-\x7f]|\//.test(s) ? s.replace(/[^\x00-\x7f]|\//g, (c) => (c === '/' ? '\\/' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)) : s;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonNegative(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a non-negative number, got ${v}`);
  return v;
}
