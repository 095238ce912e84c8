import { request, type Dispatcher } from 'undici';
import { AppError } from '../shared/errors.ts';
import { EgressRefusedError } from '../shared/egress.ts';
import type { CloudApi, MediaFile, SendChannel } from './types.ts';

/**
 * Meta's size limits for what wagate sends: images 5 MB (JPEG or PNG),
 * documents 100 MB. wagate holds a file in memory while it uploads it, so
 * documents are capped lower, at 16 MB.
 */
export const MEDIA_LIMITS = Object.freeze({
  image: { maxBytes: 5 * 1024 * 1024, types: ['image/jpeg', 'image/png'] },
  document: { maxBytes: 16 * 1024 * 1024, types: null },
});

/** The kinds of media wagate sends. */
export type OutboundMediaType = keyof typeof MEDIA_LIMITS;

/** Raised when a file cannot be fetched or is not acceptable; `code` is stable, the message fit for the tenant. */
export class MediaSourceError extends AppError {
  constructor(code: string, message: string) {
    super(400, code, message);
    this.name = 'MediaSourceError';
  }
}

/** Checks a file against the limits of its kind; throws MediaSourceError. */
export function checkMedia(type: OutboundMediaType, file: MediaFile): void {
  const limit = MEDIA_LIMITS[type];
  if (file.bytes.byteLength === 0) throw new MediaSourceError('media_empty', 'the file is empty');
  if (file.bytes.byteLength > limit.maxBytes) throw new MediaSourceError('media_too_large', `the ${type} is larger than ${limit.maxBytes} bytes`);
  if (limit.types && !limit.types.includes(file.mimeType)) {
    throw new MediaSourceError('media_type_unsupported', `an ${type} must be one of ${limit.types.join(', ')}, not ${file.mimeType}`);
  }
  if (!/^[\w.+-]+\/[\w.+-]+$/.test(file.mimeType)) throw new MediaSourceError('media_type_unsupported', `not a MIME type: ${file.mimeType.slice(0, 100)}`);
}

/**
 * Fetches a file a tenant (or its agent) names by URL, through `dispatcher`,
 * which must apply the tenant egress policy (docs/security.md): a private
 * address is refused at connect time. Redirects are not followed; bodies past
 * the kind's limit are cut off. Throws MediaSourceError.
 */
export async function fetchMedia(dispatcher: Dispatcher, url: string, type: OutboundMediaType, opts: { filename?: string; signal?: AbortSignal; timeoutMs?: number } = {}): Promise<MediaFile> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MediaSourceError('media_url_invalid', 'the media URL is not a URL');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new MediaSourceError('media_url_invalid', 'the media URL must be https');
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? 20_000);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  let res: Dispatcher.ResponseData;
  try {
    res = await request(parsed, { method: 'GET', dispatcher, signal, headers: { accept: type === 'image' ? 'image/*' : '*/*' } });
  } catch (err) {
    const refused = err instanceof EgressRefusedError ? err : (err as { cause?: unknown })?.cause instanceof EgressRefusedError ? ((err as { cause: EgressRefusedError }).cause) : null;
    if (refused) throw new MediaSourceError('egress_refused', `the media URL ${refused.message}`);
    throw new MediaSourceError('media_fetch_failed', `the media URL could not be fetched (${(err as { code?: string })?.code ?? 'network error'})`);
  }
  if (res.statusCode < 200 || res.statusCode >= 300) {
    await res.body.dump().catch(() => {});
    throw new MediaSourceError('media_fetch_failed', `the media URL answered HTTP ${res.statusCode}`);
  }
  const limit = MEDIA_LIMITS[type].maxBytes;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      res.body.destroy();
      throw new MediaSourceError('media_too_large', `the ${type} is larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  const header = String(res.headers['content-type'] ?? 'application/octet-stream');
  const mimeType = header.split(';')[0].trim().toLowerCase();
  const filename = opts.filename ?? (decodeURIComponent(parsed.pathname.split('/').pop() ?? '') || 'file');
  const file = { bytes: Buffer.concat(chunks), mimeType, filename };
  checkMedia(type, file);
  return file;
}

/** Uploads a file through the Cloud API's media endpoint and returns the `image`/`document` object that sends it. */
export async function uploadedMediaObject(cloudApi: CloudApi, channel: SendChannel, type: OutboundMediaType, file: MediaFile, caption: string | null): Promise<Record<string, unknown>> {
  checkMedia(type, file);
  const { id } = await cloudApi.uploadMedia(channel, file);
  const obj: Record<string, unknown> = { id };
  if (caption) obj.caption = caption;
  if (type === 'document') obj.filename = file.filename;
  return obj;
}
