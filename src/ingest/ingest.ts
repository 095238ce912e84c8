import type { Db } from '../db/db.ts';
import type { Notification } from '../webhook/normalize.ts';
import { INGEST } from './ingest.sql.ts';

/** A message row as the ingest statement returns it (from jsonb_agg: bigint ids as text, seq as a number). */
export interface StoredMessage {
  id: string;
  tenantId: string;
  conversationId: string;
  direction: 'inbound' | 'outbound';
  author: 'customer' | 'agent' | 'operator';
  wamid: string | null;
  type: string;
  body: string | null;
  media: Record<string, unknown> | null;
  /** The tapped button or list row (interactive and button types only; null otherwise). */
  payload?: Record<string, unknown> | null;
  contextWamid: string | null;
  status: string;
  disposition: string | null;
  convSeq: number;
  waTimestamp: string | null;
  createdAt: string;
  /** The request id of the webhook that brought it (not stored: for log lines). */
  requestId?: string;
}

/** A message of the conversation's history, oldest first. */
export interface HistoryMessage {
  id: string;
  direction: 'inbound' | 'outbound';
  author: 'customer' | 'agent' | 'operator';
  type: string;
  body: string | null;
  media: Record<string, unknown> | null;
  /** The tapped button or list row, or the offered ones (interactive and button types only). */
  payload?: Record<string, unknown> | null;
  disposition: string | null;
  convSeq: number;
  createdAt: string;
}

/** One conversation touched by a notification, with what the runner needs. */
export interface IngestedConversation {
  id: string;
  tenantId: string;
  channelId: string;
  paused: boolean;
  /** This process now holds the conversation's lease and must run its turns. */
  held: boolean;
  /** inbound_seq after this statement (a JSON number: the sequence fits in one). */
  inboundSeq: number;
  /** This statement bumped inbound_seq (it brought messages needing a turn). */
  bumped: boolean;
  configVersion: number;
  /** The tenant's agent answers this month, as of this statement's snapshot. */
  usageCount: number;
  contact: { waId: string | null; userId: string | null; name: string | null };
  /** The rows this notification inserted (duplicates are absent). */
  messages: StoredMessage[];
  /** When held: the messages stored before this notification, oldest first. */
  history: HistoryMessage[] | null;
  /** When held: the times of the conversation's latest answers (epoch ms, oldest first), for the answer budget. */
  answeredAt: number[] | null;
}

/** An outbound message whose status a status webhook moved forward. */
export interface StatusChange {
  id: string;
  tenantId: string;
  conversationId: string;
  status: string;
  errorCode: number | null;
}

/** What one ingest statement stored and changed. */
export interface IngestResult {
  conversations: IngestedConversation[];
  statuses: StatusChange[];
  /** phone_number_ids that no channel has (or, on a channel's own URL, not that channel). */
  unroutable: string[];
  /** Messages in the notification that were already stored. */
  duplicates: number;
}

/** Who takes the leases, for how long, and which channel's numbers are accepted. */
export interface IngestOptions {
  /** This process's lease id. */
  leaseOwner: string;
  leaseSeconds: number;
  /** On a channel's own webhook URL: accept only that channel's numbers. */
  onlyChannelId?: string | null;
}

/** Stores a whole notification in one round trip and returns what it changed. */
export async function ingest(db: Db, n: Notification, opts: IngestOptions): Promise<IngestResult> {
  const [row] = await db.query<{ conversations: IngestedConversation[]; statuses: StatusChange[]; unroutable: string[] }>(INGEST, [
    JSON.stringify(n.messages),
    JSON.stringify(n.statuses),
    opts.leaseOwner,
    opts.leaseSeconds,
    opts.onlyChannelId ?? null,
  ]);
  let stored = 0;
  for (const c of row.conversations) stored += c.messages.length;
  if (n.messages.length > 0 && n.messages[0].requestId !== undefined) {
    const requestIds = new Map(n.messages.map((m) => [m.wamid, m.requestId]));
    for (const c of row.conversations) for (const m of c.messages) if (m.wamid) m.requestId = requestIds.get(m.wamid);
  }
  const routable = n.messages.filter((m) => !row.unroutable.includes(m.phoneNumberId)).length;
  return { conversations: row.conversations, statuses: row.statuses, unroutable: row.unroutable, duplicates: routable - stored };
}

/**
 * The hand-off point after commit: receives what ingest stored. The
 * conversation runner implements it; it must not block the webhook's answer.
 */
export interface IngestConsumer {
  onIngested(result: IngestResult): void;
}
