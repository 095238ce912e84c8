import type { Db } from '../db/db.ts';
import type { Bus } from '../shared/bus.ts';
import { AppError, conflict, notFound, unavailable } from '../shared/errors.ts';
import type { ConversationRunner } from './runner.ts';
import { splitText } from '../outbound/split.ts';
import { PAUSE, RESUME } from './takeover.sql.ts';
import { isRowId } from '../shared/ids.ts';

/** A conversation's pause state after a change. */
export interface PauseState {
  id: string;
  tenantId: string;
  paused: boolean;
  pausedUntil: string | null;
}

interface Row {
  id: string;
  tenant_id: string;
  paused: boolean;
  paused_until: Date | null;
}

const view = (r: Row): PauseState => ({ id: r.id, tenantId: r.tenant_id, paused: r.paused, pausedUntil: r.paused_until ? r.paused_until.toISOString() : null });

/** The operator's message as queued (it goes out in order with the conversation's other messages). */
export interface ManualSendResult {
  messages: { id: string; body: string; createdAt: string }[];
  paused: boolean;
  pausedUntil: string | null;
}

/**
 * Human takeover, as the operator API uses it. `tenantId` is the caller's
 * tenant (null for the admin key): another tenant's conversation is not found.
 */
export class Takeover {
  constructor(
    private readonly db: Db,
    private readonly bus: Bus,
    /** Sends what the operator writes; null in a gateway that only stores. */
    private readonly runner: ConversationRunner | null,
  ) {}

  /** Pauses the bot (optionally for `minutes`); a running agent call is abandoned. */
  async pause(conversationId: string, tenantId: string | null, opts: { minutes?: number | null; by?: string } = {}): Promise<PauseState> {
    if (!isRowId(conversationId)) throw notFound('conversation');
    const [row] = await this.db.query<Row>(PAUSE, [conversationId, tenantId, opts.minutes ?? null, opts.by ?? 'operator']);
    if (!row) throw notFound('conversation');
    const state = view(row);
    this.bus.emit('conversation.paused', { tenantId: state.tenantId, conversationId: state.id, paused: true, pausedUntil: state.pausedUntil, by: opts.by ?? 'operator' });
    return state;
  }

  /** Resumes the bot; messages that arrived while paused stay unanswered. */
  async resume(conversationId: string, tenantId: string | null): Promise<PauseState> {
    if (!isRowId(conversationId)) throw notFound('conversation');
    const [row] = await this.db.query<Row>(RESUME, [conversationId, tenantId]);
    if (!row) throw notFound('conversation');
    const state = view(row);
    this.bus.emit('conversation.paused', { tenantId: state.tenantId, conversationId: state.id, paused: false, pausedUntil: null, by: 'operator' });
    return state;
  }

  /**
   * Sends text by hand: queues it (split over 4,096 characters), pauses the bot
   * if the tenant keeps autoPauseOnOperatorReply, and hands it to the sender.
   * Outside the 24-hour customer service window: 409 outside_customer_service_window.
   */
  async sendManual(conversationId: string, tenantId: string | null, text: string): Promise<ManualSendResult> {
    if (!isRowId(conversationId)) throw notFound('conversation');
    const runner = this.runner;
    if (!runner) throw unavailable('this process does not send messages');
    const parts = splitText(text);
    if (parts.length === 0) throw new AppError(400, 'invalid_request', 'text: must not be empty');
    const r = await runner.enqueue({ conversationId, tenantId, author: 'operator', texts: parts, autoPause: true, requireWindow: true });
    if (!r.found) throw notFound('conversation');
    if (!r.windowOpen) {
      throw conflict('outside_customer_service_window', "the customer's last message is more than 24 hours old: WhatsApp allows only template messages now");
    }
    return {
      messages: r.messages.map((m) => ({ id: m.id, body: m.body, createdAt: new Date(m.createdAt).toISOString() })),
      paused: r.conv?.paused ?? false,
      pausedUntil: r.conv?.pausedUntil ? new Date(r.conv.pausedUntil).toISOString() : null,
    };
  }
}
