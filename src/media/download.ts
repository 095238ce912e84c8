import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileTypeFromBuffer } from 'file-type';
import { request, type Dispatcher } from 'undici';
import { baseMime, isAllowedMediaUrl, maxBytesOf, typeFits, type MediaKind } from './kinds.ts';

/** Why a media file could not be kept; `retryable` failures are tried again by the lane. */
export class MediaError extends Error {
  constructor(
    readonly code: 'too_large' | 'unsupported' | 'download_failed' | 'type_mismatch' | 'hash_mismatch' | 'transcription_failed',
    message: string,
    readonly retryable = false,
  ) {
    super(message);
    this.name = 'MediaError';
  }
}

/** What the webhook said of the file. */
export interface MediaRef {
  kind: MediaKind;
  /** Meta's media id. */
  waMediaId: string;
  declaredMime: string | null;
  /** The webhook's sha256 (Meta sends base64 or hex). */
  sha256: string | null;
  animated: boolean;
}

/** A file fetched, checked and spooled to a local file. */
export interface Downloaded {
  file: string;
  size: number;
  /** Lower-case hex SHA-256 of the bytes. */
  sha256: string;
  /** The real type when recognised, else the declared one. */
  mime: string;
}

/** How to reach the Cloud API. */
export interface DownloadContext {
  /** The configured Cloud API base URL (e.g. https://graph.facebook.com/v25.0). */
  apiBase: string;
  /** The channel's access token. */
  token: string;
  dispatcher: Dispatcher;
  /** Where files are spooled before they are stored. */
  spoolDir: string;
  signal?: AbortSignal;
}

/** The first bytes kept for recognising the type (file-type reads at most this many). */
const SNIFF_BYTES = 4100;
/** Fresh URLs asked for when the one given has expired (Meta's URLs live about five minutes). */
const FRESH_URL_TRIES = 2;

/**
 * Fetches a customer's media as the Cloud API documents it: `GET /{media-id}`
 * with the channel's token answers a short-lived URL, its type, size and
 * hash; `GET` of that URL with the same token answers the bytes. The bytes
 * are streamed to a spool file (never held whole in memory), cut off past
 * Meta's limit for the type, hashed and compared with the webhook's and the
 * API's sha256, and their real type is recognised and compared with the
 * declared one. A URL that has expired (401, 403, 404, 410) is asked for
 * again. Throws a MediaError.
 */
export async function downloadMedia(ref: MediaRef, ctx: DownloadContext): Promise<Downloaded> {
  const limit = maxBytesOf(ref.kind, ref.animated);
  for (let attempt = 0; ; attempt++) {
    const info = await mediaInfo(ref, ctx);
    if (info.size !== null && info.size > limit) throw new MediaError('too_large', `${ref.kind} of ${info.size} bytes is over the ${limit}-byte limit`);
    if (!isAllowedMediaUrl(info.url, ctx.apiBase)) throw new MediaError('download_failed', `media URL on a host that is not Meta's: ${safeOrigin(info.url)}`);
    const res = await get(info.url, ctx);
    if ([401, 403, 404, 410].includes(res.statusCode) && attempt < FRESH_URL_TRIES) {
      await res.body.dump().catch(() => {});
      continue;
    }
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => {});
      throw new MediaError('download_failed', `media URL answered HTTP ${res.statusCode}`, isTemporary(res.statusCode));
    }
    const announced = Number(res.headers['content-length']);
    if (Number.isFinite(announced) && announced > limit) {
      res.body.destroy();
      throw new MediaError('too_large', `${ref.kind} of ${announced} bytes is over the ${limit}-byte limit`);
    }
    const got = await spool(res.body, limit, ref.kind, ctx);
    try {
      const expected = [ref.sha256, info.sha256].filter((h): h is string => !!h);
      if (expected.some((h) => !hashMatches(h, got.sha256))) throw new MediaError('hash_mismatch', 'the bytes do not match the sha256 Meta gave');
      const sniffed = (await fileTypeFromBuffer(got.head))?.mime ?? null;
      const declared = ref.declaredMime ?? info.mime;
      if (!typeFits(ref.kind, declared, sniffed)) throw new MediaError('type_mismatch', `declared ${baseMime(declared) || 'no type'} but the bytes are ${sniffed ?? 'of no known type'}`);
      return { file: got.file, size: got.size, sha256: got.sha256, mime: baseMime(sniffed ?? declared) || 'application/octet-stream' };
    } catch (err) {
      await unlink(got.file).catch(() => {});
      throw err;
    }
  }
}

interface MediaInfo {
  url: string;
  mime: string | null;
  sha256: string | null;
  size: number | null;
}

async function mediaInfo(ref: MediaRef, ctx: DownloadContext): Promise<MediaInfo> {
  if (!/^[A-Za-z0-9_.-]{1,200}$/.test(ref.waMediaId)) throw new MediaError('download_failed', 'the webhook gave no usable media id');
  const res = await get(`${ctx.apiBase.replace(/\/+$/, '')}/${ref.waMediaId}`, ctx);
  let json: unknown;
  try {
    json = await res.body.json();
  } catch {
    json = null;
  }
  if (res.statusCode !== 200) throw new MediaError('download_failed', `GET /{media-id} answered HTTP ${res.statusCode}`, isTemporary(res.statusCode));
  const o = (json ?? {}) as Record<string, unknown>;
  if (typeof o.url !== 'string') throw new MediaError('download_failed', 'GET /{media-id} answered no url', true);
  const size = typeof o.file_size === 'number' ? o.file_size : typeof o.file_size === 'string' && /^\d+$/.test(o.file_size) ? Number(o.file_size) : null;
  return { url: o.url, mime: typeof o.mime_type === 'string' ? o.mime_type : null, sha256: typeof o.sha256 === 'string' ? o.sha256 : null, size };
}

async function get(url: string, ctx: DownloadContext): Promise<Dispatcher.ResponseData> {
  try {
    return await request(url, { method: 'GET', dispatcher: ctx.dispatcher, headers: { authorization: `Bearer ${ctx.token}` }, signal: ctx.signal });
  } catch (err) {
    if (ctx.signal?.aborted) throw ctx.signal.reason ?? err;
    throw new MediaError('download_failed', `Cloud API unreachable: ${(err as Error).message}`, true);
  }
}

const isTemporary = (status: number) => status === 408 || status === 429 || status >= 500;

/** Streams the body to a spool file, hashing, counting and keeping the first bytes. */
async function spool(body: Dispatcher.ResponseData['body'], limit: number, kind: MediaKind, ctx: DownloadContext): Promise<{ file: string; size: number; sha256: string; head: Buffer }> {
  await mkdir(ctx.spoolDir, { recursive: true, mode: 0o700 });
  const file = path.join(ctx.spoolDir, randomUUID());
  const hash = createHash('sha256');
  const head: Buffer[] = [];
  let headBytes = 0;
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      size += chunk.length;
      if (size > limit) return done(new MediaError('too_large', `${kind} over the ${limit}-byte limit`));
      hash.update(chunk);
      if (headBytes < SNIFF_BYTES) {
        head.push(chunk.subarray(0, SNIFF_BYTES - headBytes));
        headBytes += Math.min(chunk.length, SNIFF_BYTES - headBytes);
      }
      done(null, chunk);
    },
  });
  try {
    await pipeline(body, meter, createWriteStream(file, { mode: 0o600 }), { signal: ctx.signal });
  } catch (err) {
    await unlink(file).catch(() => {});
    if (err instanceof MediaError) throw err;
    if (ctx.signal?.aborted) throw ctx.signal.reason ?? err;
    throw new MediaError('download_failed', `download cut short: ${(err as Error).message}`, true);
  }
  return { file, size, sha256: hash.digest('hex'), head: Buffer.concat(head) };
}

/** Meta gives sha256 as hex in some places and base64 in others. */
function hashMatches(given: string, hex: string): boolean {
  const g = given.trim();
  if (/^[0-9a-fA-F]{64}$/.test(g)) return g.toLowerCase() === hex;
  return g.replace(/=+$/, '') === Buffer.from(hex, 'hex').toString('base64').replace(/=+$/, '') || g.replace(/=+$/, '') === Buffer.from(hex, 'hex').toString('base64url');
}

function safeOrigin(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(not a URL)';
  }
}
