import { h } from 'preact';
import type { Message } from './api.ts';
import { mediaLabel } from './format.ts';

/** What a file that is not available shows instead, by the media lane's reason. */
const REASONS: Record<string, string> = {
  too_large: 'Not kept: larger than WhatsApp allows for this type',
  unsupported: 'Not kept: WhatsApp gave no file to fetch',
  download_failed: 'Not kept: the file could not be fetched from WhatsApp',
  type_mismatch: 'Not kept: the file is not of the type it claims',
  hash_mismatch: 'Not kept: the file does not match its checksum',
  transcription_failed: 'The voice note could not be transcribed',
  timed_out: 'Still being fetched: the bot answered without it',
};

/** What a file the business sent shows: only customers' files are kept. */
export const OUTBOUND_NOTE = "Sent by the business: only customers' files are kept here";

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

/**
 * A media message's file in the conversation view: an image as a thumbnail
 * that opens full size, an audio player with its transcript, a video player,
 * a document as a download with its name and size; or why it is not there.
 * The files come from GET /api/media/:id with the dashboard's session.
 */
export function MediaBlock(props: { m: Message }) {
  const m = props.m;
  const label = mediaLabel(m);
  const file = m.media?.file ?? null;
  const src = file?.id ? `/api/media/${encodeURIComponent(file.id)}` : null;
  const reason = file?.error ? (REASONS[file.error] ?? file.error) : null;
  const ready = file !== null && src !== null && file.status !== 'pending' && file.error !== 'too_large' && file.error !== 'hash_mismatch' && file.error !== 'type_mismatch' && file.error !== 'download_failed' && file.error !== 'unsupported';
  const parts = [];
  if (ready && (m.type === 'image' || m.type === 'sticker')) {
    parts.push(h('a', { class: 'media-open', href: src, target: '_blank', rel: 'noopener noreferrer', title: 'Open full size' }, h('img', { class: 'thumb', src, alt: m.text ? `Image: ${m.text}` : m.type === 'sticker' ? 'Sticker' : 'Image from the customer', loading: 'lazy' })));
  } else if (ready && m.type === 'audio') {
    parts.push(h('audio', { controls: true, preload: 'none', src, 'aria-label': 'Voice note' }));
  } else if (ready && m.type === 'video') {
    parts.push(h('video', { controls: true, preload: 'none', src, class: 'thumb', 'aria-label': 'Video from the customer' }));
  } else if (ready && m.type === 'document') {
    const name = m.media?.filename ?? 'document';
    parts.push(h('a', { class: 'download', href: src, download: name }, `${name}${file!.size !== null ? ` · ${formatBytes(file!.size)}` : ''}${file!.pages !== null ? ` · ${file!.pages} page${file!.pages === 1 ? '' : 's'}` : ''}`));
  } else if (label) {
    parts.push(h('span', null, label));
  }
  if (file?.transcript) parts.push(h('p', { class: 'transcript' }, h('span', { class: 'visually-hidden' }, 'Transcript: '), file.transcript));
  if (reason) parts.push(h('p', { class: 'media-note', role: 'note' }, reason));
  // Files are fetched for customers' messages only: one the business sent from its own app (an echo) is never kept.
  else if (!file && m.direction === 'outbound') parts.push(h('p', { class: 'media-note muted' }, OUTBOUND_NOTE));
  else if (!file || file.status === 'pending') parts.push(h('p', { class: 'media-note muted' }, 'Fetching the file…'));
  return h('div', { class: 'media', 'data-media-status': file?.status ?? 'pending' }, parts);
}
