/** The inbound message types whose media wagate fetches and keeps (docs/media.md). */
export type MediaKind = 'audio' | 'image' | 'sticker' | 'document' | 'video';

const KINDS = new Set<string>(['audio', 'image', 'sticker', 'document', 'video']);

/** Whether a message type carries media to fetch. */
export const isMediaKind = (type: string): type is MediaKind => KINDS.has(type);

const MB = 1024 * 1024;

/**
 * Meta's size limits for media a customer can send, by type (the Cloud API's
 * "Supported media types"): larger files are refused before a byte is read
 * when Meta announces the size, and cut off at the limit otherwise.
 * Stickers: 100 KB static, 500 KB animated.
 */
export function maxBytesOf(kind: MediaKind, animated: boolean): number {
  switch (kind) {
    case 'audio':
      return 16 * MB;
    case 'image':
      return 5 * MB;
    case 'sticker':
      return animated ? 500 * 1024 : 100 * 1024;
    case 'document':
      return 100 * MB;
    case 'video':
      return 16 * MB;
  }
}

/**
 * The hosts Meta serves media URLs from: `lookaside.fbsbx.com` (what
 * `GET /{media-id}` answers today) and Meta's CDNs. Only https on these, or
 * the configured Cloud API's own origin (the simulator, tests), is followed:
 * a webhook or an answer can never make the gateway fetch another address.
 */
const META_HOSTS = [/^lookaside\.fbsbx\.com$/, /(^|\.)fbcdn\.net$/, /(^|\.)whatsapp\.net$/];

/** Whether a media URL the Cloud API returned may be fetched. */
export function isAllowedMediaUrl(url: string, apiBase: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.username || u.password) return false;
  const api = new URL(apiBase);
  if (u.origin === api.origin) return true;
  return u.protocol === 'https:' && (u.port === '' || u.port === '443') && META_HOSTS.some((h) => h.test(u.hostname));
}

/** The part of a MIME type before its parameters, lower case, with the common aliases made one. */
export function baseMime(mime: string | null | undefined): string {
  const m = (mime ?? '').split(';')[0].trim().toLowerCase();
  const aliases: Record<string, string> = { 'image/jpg': 'image/jpeg', 'audio/opus': 'audio/ogg', 'audio/x-m4a': 'audio/mp4', 'audio/m4a': 'audio/mp4', 'video/3gp': 'video/3gpp', 'audio/mp3': 'audio/mpeg', 'audio/x-wav': 'audio/wav', 'audio/wave': 'audio/wav', 'audio/vnd.wave': 'audio/wav' };
  return aliases[m] ?? m;
}

/** Types no document may really be, whatever it declares. */
const EXECUTABLE = new Set(['application/x-msdownload', 'application/x-elf', 'application/x-mach-binary', 'application/x-sh', 'application/x-executable', 'application/vnd.microsoft.portable-executable']);

/** Containers that hold audio although their sniffed type says video or application. */
const AUDIO_CONTAINERS = new Set(['video/mp4', 'video/3gpp', 'video/webm', 'application/ogg', 'video/ogg', 'audio/webm']);

/**
 * Whether the bytes' real type (`sniffed`, null when not recognised) fits
 * what the message declared. Within one family a different subtype is
 * accepted (Meta transcodes); a PDF must be a PDF; a document may be
 * anything but a program; images, stickers and video must be recognised.
 */
export function typeFits(kind: MediaKind, declared: string | null, sniffed: string | null): boolean {
  const d = baseMime(declared);
  const s = sniffed ? baseMime(sniffed) : null;
  if (s !== null && s === d) return true;
  if (kind === 'document') {
    if (d === 'application/pdf') return s === 'application/pdf';
    return s === null || !EXECUTABLE.has(s);
  }
  if (s === null) return false;
  if (kind === 'audio') return s.startsWith('audio/') || AUDIO_CONTAINERS.has(s);
  if (kind === 'video') return s.startsWith('video/');
  return s.startsWith('image/');
}
