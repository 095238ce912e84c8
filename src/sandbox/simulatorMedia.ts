import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** How one media file is served (tests make it misbehave as Meta's can). */
export interface ShelvedMediaOptions {
  /** The declared type (`GET /{media-id}`'s mime_type). */
  mime: string;
  /** The number the media belongs to: its token is then required (with the simulator's `tokens`). */
  phoneNumberId?: string;
  /** The first N URLs handed out have expired by the time they are fetched (404, as Meta answers). */
  expiredUrls?: number;
  /** A sha256 to announce instead of the real one (a corrupted file). */
  announcedSha256?: string;
  /** A file_size to announce instead of the real one. */
  announcedSize?: number;
}

/** A file put on the shelf: its Meta media id and hashes, for the webhook a test posts. */
export interface ShelvedMedia {
  id: string;
  /** Lower-case hex SHA-256 of the bytes. */
  sha256: string;
  /** The same, base64, as webhooks carry it. */
  sha256Base64: string;
  size: number;
}

interface Entry {
  bytes: Buffer;
  opts: ShelvedMediaOptions;
  sha256: string;
  urlsIssued: number;
}

/**
 * The simulator's media, served through the Cloud API's own paths:
 * `GET /{version}/{media-id}` answers `{url, mime_type, sha256, file_size,
 * id}` with a URL on the simulator's own origin, and `GET` of that URL
 * answers the bytes, each with the channel's bearer token. The sandbox's
 * phone page puts what a customer "sends" here; tests put fixtures here.
 */
export class MediaShelf {
  private readonly files = new Map<string, Entry>();
  private seq = 0;
  /** URL fetches answered with bytes, and with an expiry. */
  readonly counts = { info: 0, downloads: 0, expired: 0 };

  constructor(private readonly origin: () => string) {}

  /** Puts a file on the shelf; returns its media id and hashes. */
  add(bytes: Buffer, opts: ShelvedMediaOptions): ShelvedMedia {
    const id = `${Date.now()}${(this.seq++).toString().padStart(4, '0')}${randomBytes(2).readUInt16BE(0)}`;
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    this.files.set(id, { bytes, opts, sha256, urlsIssued: 0 });
    return { id, sha256, sha256Base64: Buffer.from(sha256, 'hex').toString('base64'), size: bytes.length };
  }

  /** Forgets every file. */
  clear(): void {
    this.files.clear();
  }

  /**
   * Answers a GET that is a media request, or returns false. `checkToken`
   * throws (with the simulator's error) when the token is wrong.
   */
  handle(req: IncomingMessage, res: ServerResponse, checkToken: (phoneNumberId: string, authorization: string | undefined) => void): boolean {
    if (req.method !== 'GET') return false;
    const url = new URL(req.url ?? '/', 'http://sim');
    const download = /^\/media-download\/([0-9]+)$/.exec(url.pathname);
    const info = /^\/(?:v\d+(?:\.\d+)?\/)?([0-9]+)$/.exec(url.pathname);
    const id = download?.[1] ?? info?.[1];
    if (!id) return false;
    const entry = this.files.get(id);
    if (!entry) {
      json(res, 404, { error: { message: `(#100) Unsupported get request. Object with ID '${id}' does not exist`, type: 'GraphMethodException', code: 100, error_subcode: 33 } });
      return true;
    }
    if (entry.opts.phoneNumberId) {
      try {
        checkToken(entry.opts.phoneNumberId, req.headers.authorization);
      } catch {
        json(res, 401, { error: { message: '(#190) Invalid OAuth access token', type: 'OAuthException', code: 190 } });
        return true;
      }
    } else if (!req.headers.authorization?.startsWith('Bearer ')) {
      json(res, 401, { error: { message: '(#190) An active access token must be used', type: 'OAuthException', code: 190 } });
      return true;
    }
    if (info && !download) {
      this.counts.info++;
      const n = ++entry.urlsIssued;
      json(res, 200, {
        messaging_product: 'whatsapp',
        url: `${this.origin()}/media-download/${id}?n=${n}`,
        mime_type: entry.opts.mime,
        sha256: entry.opts.announcedSha256 ?? entry.sha256,
        file_size: entry.opts.announcedSize ?? entry.bytes.length,
        id,
      });
      return true;
    }
    const n = Number(url.searchParams.get('n'));
    if (!Number.isInteger(n) || n <= (entry.opts.expiredUrls ?? 0)) {
      this.counts.expired++;
      json(res, 404, { error: { message: 'URL signature expired', code: 100 } });
      return true;
    }
    this.counts.downloads++;
    res.writeHead(200, { 'content-type': entry.opts.mime, 'content-length': entry.bytes.length });
    res.end(entry.bytes);
    return true;
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
