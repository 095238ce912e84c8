import { EventEmitter } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Pool } from 'undici';
import { sign } from '../webhook/signature.ts';
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
  /** A text send was accepted. */
  send: { phoneNumberId: string; to: string | null; recipient: string | null; body: string; wamid: string; callbackData: string | null };
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
  stats(): SimulatorStats;
  on<K extends keyof SimulatorEvents>(name: K, fn: (e: SimulatorEvents[K]) => void): () => void;
  /** Media customers send: served through `GET /{media-id}` and its URL, as the Cloud API does. */
  readonly media: MediaShelf;
  /** The next event of that name matching `predicate`; rejects after timeoutMs (default 10 s). */
  once<K extends keyof SimulatorEvents>(name: K, predicate?: (e: SimulatorEvents[K]) => boolean, timeoutMs?: number): Promise<SimulatorEvents[K]>;
  close(): Promise<void>;
}

const ROUTE = /^\/(?:v\d+(?:\.\d+)?\/)?([^/?]+)\/messages\/?(?:\?.*)?$/;
const MAX_BODY = 1 << 20;
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
}

class SimError {
  constructor(
    readonly httpStatus: number,
    readonly code: number,
    readonly title: string,
    readonly details?: string,
    readonly subcode?: number,
  ) {}
}

/**
 * A fake WhatsApp Cloud API on loopback for the sandbox, the tests and the
 * benchmark: it takes text sends and mark-read requests the way Meta does,
 * answers with wamids or Meta-shaped errors, can be scripted to fail, and
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
    let raw = '';
    let size = 0;
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      if (size > MAX_BODY) return; // already answered 413; the rest is read and dropped
      size += chunk.length;
      if (size > MAX_BODY) {
        raw = '';
        stats.errors++;
        reply(res, null, 413, errorBody(new SimError(413, 100, 'request body too large'), tag, seq++));
        return;
      }
      raw += chunk;
    });
    req.on('end', () => {
      if (size <= MAX_BODY) handle(req, res, raw);
    });
  }

  function handle(req: IncomingMessage, res: ServerResponse, raw: string): void {
    const m = ROUTE.exec(req.url ?? '');
    const phoneNumberId = m ? decodeURIComponent(m[1]) : null;
    let body: unknown = raw;
    try {
      body = raw.length > 0 ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
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
        if (req.method !== 'POST' || phoneNumberId === null) throw new SimError(404, 100, `Unsupported ${req.method} request to ${req.url}`);
        checkToken(phoneNumberId, req.headers.authorization);
        if (!isObject(body)) throw new SimError(400, 100, 'The request body must be a JSON object', 'Invalid parameter');
        if (body.messaging_product !== 'whatsapp') throw new SimError(400, 100, 'Invalid parameter', 'The parameter messaging_product is required and must be "whatsapp".');
        const failure = scripted && 'asyncFailure' in scripted ? scripted.asyncFailure : null;
        reply(res, rec, 200, kind === 'read' ? markRead(phoneNumberId, body) : sendText(phoneNumberId, body, failure));
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

  function sendText(phoneNumberId: string, body: Record<string, unknown>, failure: AsyncFailure | null): string {
    const to = typeof body.to === 'string' && body.to.length > 0 ? body.to : null;
    const recipient = typeof body.recipient === 'string' && body.recipient.length > 0 ? body.recipient : null;
    if ((to === null) === (recipient === null)) throw new SimError(400, 100, 'Invalid parameter', 'Exactly one of the parameters to and recipient is required.');
    if (body.recipient_type !== undefined && body.recipient_type !== 'individual') throw new SimError(400, 100, 'Invalid parameter', 'recipient_type must be "individual".');
    const type = body.type ?? 'text';
    if (type !== 'text') throw new SimError(400, 100, 'Invalid parameter', `The simulator takes text messages only, not ${JSON.stringify(type)}.`);
    const text = body.text;
    if (!isObject(text) || typeof text.body !== 'string' || text.body.trim().length === 0) throw new SimError(400, 100, 'Invalid parameter', "The parameter text['body'] is required.");
    if (text.preview_url !== undefined && typeof text.preview_url !== 'boolean') throw new SimError(400, 100, 'Invalid parameter', "text['preview_url'] must be a boolean.");
    if (text.body.length > MAX_TEXT && [...text.body].length > MAX_TEXT) throw new SimError(400, 100, 'Invalid parameter', `Param text['body'] must be at most ${MAX_TEXT} characters long.`);
    const cb = body.biz_opaque_callback_data;
    if (cb !== undefined && (typeof cb !== 'string' || Buffer.byteLength(cb) > 512)) throw new SimError(400, 100, 'Invalid parameter', 'biz_opaque_callback_data must be a string of at most 512 bytes.');

    const wamid = `wamid.SIM${tag}${(seq++).toString(36).toUpperCase()}`;
    stats.sends++;
    const callbackData = typeof cb === 'string' ? cb : null;
    events.emit('send', { phoneNumberId, to, recipient, body: text.body, wamid, callbackData } satisfies SimulatorEvents['send']);
    if (webhook && delays) {
      const target = { phoneNumberId, wamid, to, recipient, callbackData, failure };
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
    if (status === 'sent' || status === 'delivered') item.pricing = { billable: false, pricing_model: 'PMP', category: 'service', type: 'free_customer_service' };
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
      recorded = [];
      head = 0;
      queue.length = 0;
      Object.assign(stats, { connections: 0, requests: 0, sends: 0, reads: 0, errors: 0, maxInFlight: stats.inFlight, statusesPosted: 0, statusFailures: 0 });
    },
    stats() {
      return { ...stats };
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
