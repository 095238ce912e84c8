import { DISPOSITIONS, type ConversationShape, type MessageShape } from './schemas.ts';
import type { z } from 'zod';
import type { mediaFileShape } from './schemas.ts';

type MediaFileShape = z.infer<typeof mediaFileShape>;

/** A message as MESSAGE_COLUMNS selects it, through row_to_json / json_agg (times are strings there). */
export interface MessageRow {
  id: string;
  conversation_id: string;
  direction: 'inbound' | 'outbound';
  author: 'customer' | 'agent' | 'operator';
  wamid: string | null;
  type: string;
  body: string | null;
  media: Record<string, unknown> | null;
  status: string;
  disposition: string | null;
  turn_id: string | null;
  error_code: number | null;
  error_title: string | null;
  errors: unknown;
  pricing_category?: string | null;
  created_at: string | Date;
  /** An agent reply's tool calls (messages.sql.ts), else null. */
  tool_calls?: ToolCallRow[] | null;
}

/** A tool call as MESSAGE_COLUMNS aggregates it. */
interface ToolCallRow {
  id: string;
  name: string;
  arguments: unknown;
  status: MessageShape['toolCalls'][number]['status'];
  duration_ms: number | null;
  excerpt: string | null;
  created_at: string;
}

/** A conversation as CONVERSATION_COLUMNS selects it. */
export interface ConversationRow {
  id: string;
  tenant_id: string;
  channel_id: string;
  paused: boolean;
  paused_until: Date | null;
  paused_by: string | null;
  last_message_at: Date;
  contact_id: string;
  wa_id: string | null;
  user_id: string | null;
  profile_name: string | null;
  last_message: MessageRow | null;
  unread: number;
  last_inbound_at?: string | Date | null;
}

const iso = (t: string | Date): string => (t instanceof Date ? t : new Date(t)).toISOString();
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const dispositions = new Set<string>(DISPOSITIONS);

/** The error of a failed send, or the first error Meta attached to an inbound message. */
function errorOf(r: MessageRow): MessageShape['error'] {
  if (r.error_code !== null || r.error_title !== null) return { code: r.error_code, title: r.error_title };
  if (Array.isArray(r.errors) && r.errors.length > 0) {
    const e = r.errors[0] as { code?: unknown; title?: unknown; message?: unknown };
    return { code: typeof e.code === 'number' ? e.code : null, title: str(e.title) ?? str(e.message) };
  }
  return null;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const FILE_STATUSES = new Set(['pending', 'ready', 'failed']);
const FILE_ERRORS = new Set(['too_large', 'unsupported', 'download_failed', 'type_mismatch', 'hash_mismatch', 'transcription_failed', 'timed_out']);

/** What the media lane wrote of a message's file (`media.file`), as the API shows it. */
function fileView(v: unknown): MediaFileShape | null {
  if (!v || typeof v !== 'object') return null;
  const f = v as Record<string, unknown>;
  const status = str(f.status);
  const error = str(f.error);
  return {
    id: str(f.id),
    status: status && FILE_STATUSES.has(status) ? (status as MediaFileShape['status']) : 'pending',
    error: error && FILE_ERRORS.has(error) ? (error as MediaFileShape['error']) : null,
    mimeType: str(f.mime),
    size: num(f.size),
    transcript: str(f.transcript),
    language: str(f.language),
    excerpt: str(f.excerpt),
    pages: num(f.pages),
    durationSeconds: num(f.duration),
  };
}

/** The API's message shape (docs/api.md). */
export function messageView(r: MessageRow): MessageShape {
  const media = r.media
    ? { mimeType: str(r.media.mime_type), caption: str(r.media.caption), filename: str(r.media.filename), file: fileView(r.media.file) }
    : null;
  return {
    id: r.id,
    conversationId: r.conversation_id,
    direction: r.direction,
    author: r.author,
    wamid: r.wamid,
    type: r.type,
    text: r.body,
    media,
    status: r.status,
    disposition: r.disposition !== null && dispositions.has(r.disposition) ? (r.disposition as MessageShape['disposition']) : null,
    turnId: r.turn_id,
    error: errorOf(r),
    toolCalls: (r.tool_calls ?? []).map((t) => ({
      id: t.id,
      name: t.name,
      arguments: t.arguments,
      status: t.status,
      durationMs: t.duration_ms,
      excerpt: t.excerpt,
      createdAt: iso(t.created_at),
    })),
    pricingCategory: r.pricing_category ?? null,
    createdAt: iso(r.created_at),
  };
}

/** The API's conversation shape (docs/api.md). */
export function conversationView(r: ConversationRow): ConversationShape {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    channelId: r.channel_id,
    contact: { id: r.contact_id, waId: r.wa_id, userId: r.user_id, name: r.profile_name },
    paused: r.paused,
    pausedUntil: r.paused_until ? iso(r.paused_until) : null,
    pausedBy: r.paused ? r.paused_by : null,
    lastMessage: r.last_message ? messageView(r.last_message) : null,
    lastMessageAt: iso(r.last_message_at),
    unread: r.unread,
    // WhatsApp's customer service window: 24 hours from the customer's last message.
    windowClosesAt: r.last_inbound_at ? new Date(new Date(r.last_inbound_at).getTime() + 24 * 3_600_000).toISOString() : null,
  };
}
