import { randomBytes } from 'node:crypto';
import { Pool } from 'undici';
import { CloudApiError, type CloudApi, type Recipient, type RichContent, type SendChannel, type SendOptions } from './types.ts';
import { NETWORK_ERROR_CODE, isTemporary } from './errors.ts';

/** Longest text body the Cloud API takes, in characters. */
export const MAX_TEXT_LENGTH = 4096;
/** Longest `biz_opaque_callback_data` the Cloud API takes, in bytes. */
export const MAX_CALLBACK_DATA_BYTES = 512;

const INVALID_PARAMETER = 100;
const TITLE_MAX = 1024;

/** Tuning of the Cloud API client. */
export interface CloudApiOptions {
  /**
   * Keep-alive connections to the API's origin (default 512): each carries one
   * request at a time, and thousands of conversations answered at once must not
   * queue behind a few dozen sockets.
   */
  connections?: number;
  /** Time to wait for the answer's headers and body, each (default 30 s). */
  timeoutMs?: number;
}

/**
 * A Cloud API client over one undici keep-alive Pool. Node's global `fetch`
 * costs several times the CPU per call (0.3–0.7 ms against under 0.1 ms,
 * measured on a 2-core machine: docs/architecture.md), and sends are the gateway's hottest outbound path.
 * The client holds no request state: the channel and its token are
 * parameters of each call, so concurrent calls for many tenants never mix.
 */
export function createCloudApi(baseUrl: string, opts: CloudApiOptions = {}): CloudApi {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new TypeError(`Cloud API base URL is not a URL: ${baseUrl}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`Cloud API base URL must be http(s): ${baseUrl}`);
  const connections = opts.connections ?? 512;
  if (!Number.isInteger(connections) || connections < 1) throw new RangeError(`connections must be a positive integer, got ${connections}`);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError(`timeoutMs must be positive, got ${timeoutMs}`);

  const basePath = url.pathname.replace(/\/+$/, '');
  const pool = new Pool(url.origin, {
    connections,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    // Longer than the server's keep-alive hint is pointless: undici honours the hint.
    keepAliveTimeout: 30_000,
  });

  async function post(channel: SendChannel, payload: string, signal: AbortSignal | undefined): Promise<{ status: number; json: unknown; text: string }> {
    if (!channel.phoneNumberId) throw new CloudApiError(INVALID_PARAMETER, 'channel has no phone_number_id', null, false);
    return call('POST', `/${encodeURIComponent(channel.phoneNumberId)}/messages`, channel.accessToken, { 'content-type': 'application/json' }, payload, signal);
  }

  async function call(
    method: 'GET' | 'POST',
    path: string,
    accessToken: string,
    headers: Record<string, string>,
    payload: string | Buffer | null,
    signal: AbortSignal | undefined,
  ): Promise<{ status: number; json: unknown; text: string }> {
    let res;
    try {
      res = await pool.request({
        method,
        path: `${basePath}${path}`,
        headers: { authorization: `Bearer ${accessToken}`, ...headers },
        body: payload ?? undefined,
        signal,
      });
    } catch (err) {
      // A cancelled send is the caller's decision, not a Cloud API failure: let the reason through.
      if (signal?.aborted) throw signal.reason ?? err;
      throw networkError(err);
    }
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      throw networkError(err);
    }
    let json: unknown = undefined;
    if (text.length > 0) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    if (res.statusCode < 200 || res.statusCode >= 300 || hasError(json)) throw errorFrom(res.statusCode, json, text);
    return { status: res.statusCode, json, text };
  }

  async function send(channel: SendChannel, to: Recipient, message: RichContent, { callbackData, contextWamid, signal }: SendOptions): Promise<{ wamid: string }> {
    checkCallbackData(callbackData);
    const payload = JSON.stringify({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      ...recipientField(to),
      ...(contextWamid ? { context: { message_id: contextWamid } } : {}),
      type: message.type,
      [message.type]: message.content,
      biz_opaque_callback_data: callbackData === '' ? undefined : callbackData,
    });
    const { status, json, text } = await post(channel, payload, signal);
    const wamid = (json as { messages?: { id?: unknown }[] } | undefined)?.messages?.[0]?.id;
    if (typeof wamid !== 'string' || wamid.length === 0) {
      // Meta took the request but did not say what it made of it: resending could
      // duplicate the message, so this is not retried; the status webhooks, which
      // echo the callback data, settle what happened.
      throw new CloudApiError(status, `unexpected response body: ${snippet(text)}`, status, false);
    }
    return { wamid };
  }

  return {
    async sendText(channel, to, body, opts) {
      checkText(body);
      return send(channel, to, { type: 'text', content: { preview_url: false, body } }, opts);
    },

    async sendRich(channel, to, message, opts) {
      if (typeof message.type !== 'string' || message.type === '' || typeof message.content !== 'object' || message.content === null) {
        throw new CloudApiError(INVALID_PARAMETER, 'message type and content are required', null, false);
      }
      return send(channel, to, message, opts);
    },

    async uploadMedia(channel, file, signal) {
      if (!channel.phoneNumberId) throw new CloudApiError(INVALID_PARAMETER, 'channel has no phone_number_id', null, false);
      const boundary = `wagate${randomBytes(12).toString('hex')}`;
      const body = multipart(boundary, file);
      const { status, json, text } = await call(
        'POST',
        `/${encodeURIComponent(channel.phoneNumberId)}/media`,
        channel.accessToken,
        { 'content-type': `multipart/form-data; boundary=${boundary}` },
        body,
        signal,
      );
      const id = (json as { id?: unknown } | undefined)?.id;
      if (typeof id !== 'string' || id.length === 0) throw new CloudApiError(status, `unexpected response body: ${snippet(text)}`, status, false);
      return { id };
    },

    async listTemplates(wabaId, accessToken, after) {
      if (!wabaId) throw new CloudApiError(INVALID_PARAMETER, 'the channel has no WhatsApp Business Account id', null, false);
      const q = new URLSearchParams({ limit: '100', fields: 'id,name,language,status,category,components,parameter_format,quality_score' });
      if (after) q.set('after', after);
      const { status, json, text } = await call('GET', `/${encodeURIComponent(wabaId)}/message_templates?${q}`, accessToken, {}, null, undefined);
      const page = json as { data?: unknown; paging?: { cursors?: { after?: unknown }; next?: unknown } } | undefined;
      if (!page || !Array.isArray(page.data)) throw new CloudApiError(status, `unexpected response body: ${snippet(text)}`, status, false);
      // Meta gives a cursor on every page; only a page with `next` has another after it.
      const next = typeof page.paging?.next === 'string' && typeof page.paging.cursors?.after === 'string' ? page.paging.cursors.after : null;
      return { data: page.data, after: next };
    },

    async markRead(channel, messageWamid, typing) {
      if (!messageWamid) throw new CloudApiError(INVALID_PARAMETER, 'message_id is required to mark a message read', null, false);
      const payload = JSON.stringify(
        typing
          ? { messaging_product: 'whatsapp', status: 'read', message_id: messageWamid, typing_indicator: { type: 'text' } }
          : { messaging_product: 'whatsapp', status: 'read', message_id: messageWamid },
      );
      await post(channel, payload, undefined);
    },

    async close() {
      await pool.close();
    },
  };
}

/** `to` for a phone number; `recipient` for a business-scoped user id (users with usernames). */
function recipientField(to: Recipient): { to: string } | { recipient: string } {
  if (to.waId) return { to: to.waId };
  if (to.userId) return { recipient: to.userId };
  throw new CloudApiError(INVALID_PARAMETER, 'recipient has neither a wa_id nor a user id', null, false);
}

// Checked here with Meta's own code so that the sender records the same failure
// without spending a round trip (and a unit of the number's throughput) on it.
function checkText(body: string): void {
  if (typeof body !== 'string' || body.trim().length === 0) throw new CloudApiError(INVALID_PARAMETER, 'text body is empty', null, false);
  if (body.length > MAX_TEXT_LENGTH && codePoints(body) > MAX_TEXT_LENGTH) {
    throw new CloudApiError(INVALID_PARAMETER, `text body is longer than ${MAX_TEXT_LENGTH} characters: split it first`, null, false);
  }
}

function checkCallbackData(data: string): void {
  if (typeof data !== 'string') throw new CloudApiError(INVALID_PARAMETER, 'callback data must be a string', null, false);
  if (data.length > MAX_CALLBACK_DATA_BYTES / 3 && Buffer.byteLength(data) > MAX_CALLBACK_DATA_BYTES) {
    throw new CloudApiError(INVALID_PARAMETER, `biz_opaque_callback_data is longer than ${MAX_CALLBACK_DATA_BYTES} bytes`, null, false);
  }
}

function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

function hasError(json: unknown): boolean {
  return typeof json === 'object' && json !== null && 'error' in json && typeof (json as { error: unknown }).error === 'object';
}

interface GraphError {
  message?: unknown;
  code?: unknown;
  error_subcode?: unknown;
  error_user_title?: unknown;
  error_data?: { details?: unknown };
}

/**
 * Meta's `{"error":{"message","type","code","error_subcode","error_data":{"details"},"fbtrace_id"}}`
 * as a CloudApiError. The message reads "(#131047) Re-engagement message": the
 * prefix repeats the code, so the title is the rest.
 */
function errorFrom(status: number, json: unknown, text: string): CloudApiError {
  const e = hasError(json) ? ((json as { error: GraphError }).error) : undefined;
  const code = e && Number.isInteger(e.code) ? (e.code as number) : status;
  let title: string;
  if (e) {
    const message = typeof e.message === 'string' ? e.message.replace(/^\(#\d+\)\s*/, '') : '';
    const details = typeof e.error_data?.details === 'string' ? e.error_data.details : '';
    title = message || details || `HTTP ${status}`;
    if (details && message && !message.includes(details)) title = `${message}: ${details}`;
  } else {
    title = text.length > 0 ? `HTTP ${status}: ${snippet(text)}` : `HTTP ${status}`;
  }
  return new CloudApiError(code, title.slice(0, TITLE_MAX), status, isTemporary(code, status));
}

/** The media upload's multipart body: messaging_product, type and the file. */
function multipart(boundary: string, file: { bytes: Uint8Array; mimeType: string; filename: string }): Buffer {
  if (!/^[\w.+-]+\/[\w.+-]+$/.test(file.mimeType)) throw new CloudApiError(INVALID_PARAMETER, `not a MIME type: ${file.mimeType.slice(0, 100)}`, null, false);
  const safeName = file.filename.replace(/["\r\n\\]/g, '_');
  const field = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const head =
    field('messaging_product', 'whatsapp') +
    field('type', file.mimeType) +
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${safeName}"\r\nContent-Type: ${file.mimeType}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), Buffer.from(file.bytes), Buffer.from(`\r\n--${boundary}--\r\n`)]);
}

function networkError(err: unknown): CloudApiError {
  const e = err as { code?: unknown; message?: unknown };
  const what = typeof e?.code === 'string' ? e.code : 'network error';
  const message = typeof e?.message === 'string' && e.message ? `: ${e.message}` : '';
  return new CloudApiError(NETWORK_ERROR_CODE, `${what}${message}`.slice(0, TITLE_MAX), null, true, { cause: err });
}

function snippet(text: string): string {
  const s = text.replace(/\s+/g, ' ').trim();
  return s.length > 200 ? `${s.slice(0, 200)}…` : s || '(empty)';
}
