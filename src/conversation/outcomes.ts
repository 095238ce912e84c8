import type { HistoryMessage } from '../ingest/ingest.ts';

/*
 * The values that pass between the parts of the runner: the messages a
 * conversation holds, and what a turn or a send returns for the runner to
 * apply. Plain data, so that the state, the turn and delivery can all speak
 * of them without importing one another.
 */

/** A customer message waiting for (or inside) a turn. */
export interface PendingMessage {
  id: string;
  wamid: string | null;
  type: string;
  body: string | null;
  media: Record<string, unknown> | null;
  /** The tapped button or list row (interactive and button types). */
  payload?: Record<string, unknown> | null;
  convSeq: number;
  /** When the customer sent it (Meta's timestamp). */
  sentAt: number | null;
  /** performance.now() when this process learned of it: the start of its end-to-end time. */
  arrivedAt: number;
  /** The request id of the webhook that brought it to this process (null: found by a sweep), for log lines. */
  requestId: string | null;
}

/** A message committed as `queued`, to be sent in order. */
export interface OutgoingMessage {
  id: string;
  /** The text; for other types, its text form (what the conversation view and the agent's history show). */
  body: string;
  /** text, or the Cloud API type of `payload`: template, interactive, image, document, reaction. */
  type?: string;
  /** The Cloud API object of that type (null for text). */
  payload?: Record<string, unknown> | null;
  /** The wamid this message replies to (`context.message_id`). */
  contextWamid?: string | null;
  turnId: string | null;
  /** The time of the turn that produced it (for the turn.done event), or null. */
  turn: TurnTiming | null;
}

/** The time of one turn, shared by its reply parts until the last one is sent. */
export interface TurnTiming {
  tenantId: string;
  disposition: string;
  arrivedAt: number;
  startedAt: number;
  agentMs: number;
  /** Parts of the reply not yet sent; the timing is reported when the last one is. */
  partsLeft: number;
  sendMs: number;
}

/** A turn whose reply part failed for good: its later parts are not sent (the answer would arrive cut). */
export interface FailedTurn {
  turnId: string;
  code: number | null;
  title: string | null;
}

/** What a turn committed, for the runner to apply to the conversation's state. */
export interface CommittedTurn {
  kind: 'committed';
  /** The ids of the turn's messages: they leave the pending list. */
  covered: string[];
  /** The turn's messages (with the disposition the commit settled) and its reply parts, for the history. */
  history: HistoryMessage[];
  /** The reply parts queued, to be sent in order. */
  replies: OutgoingMessage[];
  /** The conversation is paused now (it was when the commit ran, or this turn paused it). */
  paused: boolean;
  /** inbound_seq as the commit read it under the row lock. */
  inboundSeq: number | null;
  /** The commit gave the lease back at this inbound_seq (null: kept it). */
  releasedAt: number | null;
  /** The conversation's latest answer times after the commit (epoch ms, oldest first), for the answer budget. */
  answeredAt: number[];
}

/**
 * How one attempt at a turn ended: committed; `restart`, new messages
 * cancelled the agent call and the turn starts again with every pending
 * message (claiming first what the database has beyond this process); or
 * `lost`, the lease is gone (or the process stops) and nothing is to be
 * touched.
 */
export type TurnOutcome = CommittedTurn | { kind: 'restart' } | { kind: 'lost' };

/** What sending the outbox's first message came to, for the runner to apply. */
export interface SendOutcome {
  result: 'sent' | 'failed';
  wamid: string | null;
  code: number | null;
  title: string | null;
  /** How long the send took, up to the Cloud API's answer. */
  ms: number;
  /** performance.now() at the Cloud API's answer: the end of the customer's wait. */
  sentAt: number;
  /** The turn this part's failure cut short (its later parts are not sent), or null. */
  cutsTurn: FailedTurn | null;
  /** What the result statement said; null: it found no message row to record the result in. */
  recorded: { held: boolean; inboundSeq: number | null; releasedAt: number | null } | null;
}
