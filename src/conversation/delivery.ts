import type { Logger } from 'pino';
import type { Db } from '../db/db.ts';
import type { Pacer } from '../outbound/pacer.ts';
import { sendWithRetry } from '../outbound/retry.ts';
import { CloudApiError, type CloudApi } from '../outbound/types.ts';
import type { Bus } from '../shared/bus.ts';
import type { ChannelDirectory } from '../tenancy/channels.ts';
import { callbackDataFor } from '../shared/callbackData.ts';
import { Batcher } from '../shared/batcher.ts';
import type { Semaphore } from '../shared/semaphore.ts';
import type { LeaseTerms } from './leaseBook.ts';
import type { FailedTurn, SendOutcome } from './outcomes.ts';
import type { ConversationView } from './state.ts';
import { SEND_RESULTS, type SendResultRow } from './delivery.sql.ts';

/** Tuning of the sends (tests shorten the waits). */
export interface DeliveryOptions {
  /** Retry tuning for sends. */
  retry?: { maxAttempts?: number; baseMs?: number; maxMs?: number; retryForMs?: number };
}

/**
 * How sends are retried unless told otherwise: six quick attempts, then, for
 * temporary errors (network errors, 5xx, Meta's temporary codes), on and off
 * for up to 15 minutes with waits of at most 30 s. A reply waits out an
 * outage as its queued row instead of failing; it goes out within about 30 s
 * of the Cloud API's return.
 */
export const SEND_RETRY = Object.freeze({ maxAttempts: 6, baseMs: 500, maxMs: 30_000, retryForMs: 15 * 60_000 });

/** One send's result, as SEND_RESULTS takes it. */
interface SendResult {
  id: string;
  result: 'sent' | 'failed';
  wamid: string | null;
  code: number | null;
  title: string | null;
  releaseSeq: number | null;
}

/** How long a send result is retried before the sweep is left to decide. */
const RECORD_RETRY_MS = 60_000;

/** Send-result statements running at once; results arriving meanwhile share the next one. */
const RESULT_STATEMENTS_IN_FLIGHT = 2;

/**
 * Sends a conversation's queued messages in order, one at a time, paced per
 * number, retried on temporary errors, and records each result in one
 * statement (round trip 3 of an answered message). The outbound message's id
 * travels as biz_opaque_callback_data, so statuses can settle a send whose
 * result a crash left unknown. It reads the conversation's state and returns
 * what happened; the runner applies it.
 */
export class Delivery {
  private readonly results = new Batcher<SendResult, SendResultRow | null>((items) => this.record(items), RESULT_STATEMENTS_IN_FLIGHT, 500);
  private readonly inFlight = new Set<string>();
  /** Conversations whose send failed at least once and is being retried now. */
  private readonly retrying = new Set<string>();
  /** When sends began failing (the first retry while none was waiting), for the log line at recovery. */
  private failingSince: number | null = null;
  /** Aborted at shutdown: waits between attempts end, the message stays queued for the next process. */
  private readonly stopping = new AbortController();

  constructor(
    private readonly db: Db,
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly lease: LeaseTerms,
    private readonly channels: ChannelDirectory,
    private readonly cloudApi: CloudApi,
    private readonly pacer: Pacer,
    private readonly outboundRows: Semaphore,
    private readonly opts: DeliveryOptions = {},
  ) {}

  /** Conversations whose message is on its way to the Cloud API right now. */
  get sending(): string[] {
    return [...this.inFlight];
  }

  /**
   * Shutdown: sends waiting between attempts give up at once and their
   * messages stay queued (a send on the wire still finishes and is recorded).
   */
  stopRetrying(): void {
    this.stopping.abort(new Error('shutting down'));
  }

  /**
   * Sends the first message of the conversation's outbox and records the
   * result; null when shutdown stopped it between attempts (still queued).
   */
  async sendNext(state: ConversationView): Promise<SendOutcome | null> {
    const item = state.outbox[0];
    const started = performance.now();
    const channel = await this.channels.get(state.channelId);
    let status: 'sent' | 'failed' = 'failed';
    let wamid: string | null = null;
    let code: number | null = null;
    let title: string | null = null;
    const failedBefore = item.turnId !== null && state.failedTurn?.turnId === item.turnId ? state.failedTurn : null;
    if (failedBefore) {
      code = failedBefore.code;
      title = `not sent: an earlier part of this answer failed (${failedBefore.title ?? 'error'})`;
    } else if (!channel) {
      code = 0;
      title = 'channel not found';
    } else {
      this.inFlight.add(state.id);
      try {
        const to = state.contact;
        const recipient = to.waId ?? to.userId ?? '';
        const res = await sendWithRetry(
          async () => {
            await this.pacer.take(channel.phoneNumberId, channel.messagesPerSecond, { recipient });
            const opts = { callbackData: callbackDataFor(item.id), contextWamid: item.contextWamid ?? null };
            return item.payload && item.type && item.type !== 'text'
              ? this.cloudApi.sendRich(channel, to, { type: item.type, content: item.payload }, opts)
              : this.cloudApi.sendText(channel, to, item.body, opts);
          },
          {
            ...SEND_RETRY,
            ...this.opts.retry,
            signal: this.stopping.signal,
            onRetry: (err, attempt, delayMs) => this.retried(state, item.id, err, attempt, delayMs),
            pairBackoff: this.pacer.pairBackoff(channel.phoneNumberId, recipient),
          },
        );
        this.pacer.pairSucceeded(channel.phoneNumberId, recipient);
        status = 'sent';
        wamid = res.wamid;
        this.recovered();
      } catch (err) {
        if (this.stopping.signal.aborted && !(err instanceof CloudApiError && !err.retryable)) {
          // Shutdown between attempts: nothing was sent; the row stays queued for whoever takes the conversation next.
          this.inFlight.delete(state.id);
          this.doneRetrying(state.id);
          return null;
        }
        if (err instanceof CloudApiError) {
          code = err.code;
          title = err.title;
        } else {
          code = 0;
          title = 'send failed';
          this.log.error({ err, conversationId: state.id }, 'send failed');
        }
      }
    }
    // The customer's wait ends when the Cloud API has the reply; recording it comes after.
    const sentAt = performance.now();
    const sendMs = sentAt - started;
    const lastOne = state.outbox.length === 1 && state.pending.length === 0;
    let row: SendResultRow | null;
    try {
      row = await this.recordResult({ id: item.id, result: status, wamid, code, title, releaseSeq: lastOne ? state.lease.knownSeq : null });
    } finally {
      this.inFlight.delete(state.id);
      this.doneRetrying(state.id);
    }
    const cutsTurn = status === 'failed' && item.turnId && !failedBefore ? { turnId: item.turnId, code, title } : null;
    const outcome = { result: status, wamid, code, title, ms: sendMs, sentAt, cutsTurn };
    if (!row) return { ...outcome, recorded: null };
    const tenantId = row.tenantId ?? state.tenantId;
    this.bus.emit('message.out', { tenantId, conversationId: state.id, messageId: item.id, author: item.turnId ? 'agent' : 'operator', result: status, errorCode: code, ms: sendMs });
    this.bus.emit('message.status', { tenantId, conversationId: state.id, messageId: item.id, status: row.status, errorCode: code });
    if (row.sendFailed > 0) this.bus.emit('message.disposition', { tenantId, conversationId: state.id, disposition: 'send_failed', count: row.sendFailed });
    return { ...outcome, recorded: { held: row.held, inboundSeq: row.inboundSeq, releasedAt: row.released ? row.inboundSeq : null } };
  }

  /** A send failed and waits to try again: counted, and logged once when sends begin failing. */
  private retried(state: ConversationView, messageId: string, err: CloudApiError, attempt: number, delayMs: number): void {
    this.bus.emit('send.retry', { tenantId: state.tenantId, errorCode: err.code });
    this.log.debug({ conversationId: state.id, messageId, attempt, delayMs, code: err.code }, 'send retried');
    if (!this.retrying.has(state.id)) {
      this.retrying.add(state.id);
      this.bus.emit('send.waiting', { count: this.retrying.size });
    }
    if (this.failingSince === null) {
      this.failingSince = performance.now();
      this.log.warn({ code: err.code, title: err.title }, 'Cloud API sends are failing; replies stay queued and are retried (wagate_sends_waiting)');
    }
  }

  /** A send went through: if sends were failing, they are not any more. */
  private recovered(): void {
    if (this.failingSince === null) return;
    this.log.info({ failingForMs: Math.round(performance.now() - this.failingSince), stillWaiting: this.retrying.size }, 'Cloud API sends succeed again');
    this.failingSince = null;
  }

  private doneRetrying(conversationId: string): void {
    if (this.retrying.delete(conversationId)) this.bus.emit('send.waiting', { count: this.retrying.size });
  }

  /**
   * Records a send's result, trying again while the database fails: the
   * message went out (or failed for good), and leaving its row `queued` would
   * let a sweep send it a second time. The write is idempotent (statuses only
   * move forward). The lease is renewed meanwhile, so no other process takes
   * the conversation; past a minute the error is thrown and the sweep decides.
   */
  private async recordResult(r: SendResult): Promise<SendResultRow | null> {
    const until = Date.now() + RECORD_RETRY_MS;
    for (let delay = 50; ; delay = Math.min(delay * 2, 2_000)) {
      try {
        return await this.results.submit(r);
      } catch (err) {
        if (Date.now() + delay > until) throw err;
        // Once per send result: while the database is down, the retries would fill the log.
        if (delay === 50) this.log.warn({ err, messageId: r.id }, 'recording a send result failed; trying again');
        else this.log.debug({ err, messageId: r.id }, 'recording a send result failed again; trying again');
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /** One statement for every send result waiting. */
  private async record(items: SendResult[]): Promise<PromiseSettledResult<SendResultRow | null>[]> {
    const rows = await this.outboundRows.run(() => this.db.query<SendResultRow>(SEND_RESULTS, [
      items.map((i) => i.id),
      items.map((i) => i.result),
      items.map((i) => i.wamid),
      items.map((i) => i.code),
      items.map((i) => i.title),
      items.map((i) => i.releaseSeq),
      this.lease.owner,
      this.lease.seconds,
    ]));
    const byId = new Map(rows.map((r) => [r.id, r]));
    return items.map((i) => ({ status: 'fulfilled', value: byId.get(i.id) ?? null }));
  }
}
