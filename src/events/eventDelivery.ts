import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { Db } from '../db/db.ts';
import { Batcher } from '../shared/batcher.ts';
import type { Bus } from '../shared/bus.ts';
import { createEgressDispatcher } from '../shared/egressDispatcher.ts';
import type { EgressPolicy } from '../shared/egress.ts';
import { decrypt, type SecretKeys } from '../shared/secrets.ts';
import { ACTIVE_TENANTS, DELIVERY_CLAIM, DELIVERY_SETTLE } from './events.sql.ts';
import { postEvent, type PostResult } from './postEvent.ts';

/** Timings and bounds of event delivery (tests shorten them). */
export interface EventDeliveryOptions {
  /** How often the queue is read when nothing wakes the worker (other processes' events). */
  pollIntervalMs: number;
  /** Lines (a subscription's events of one conversation) posted at once by this process, in all. */
  concurrency: number;
  /** Lines of one subscription posted at once, so a slow receiver cannot take every slot. */
  perSubscription: number;
  /** Connections to one receiver's origin (lines beyond wait for one). */
  connectionsPerOrigin: number;
  /** Deliveries of one line taken at once (posted one after the other). */
  lineBatch: number;
  /** A line stops posting after this long (the rest is released, due again), which bounds how long a claim hides it. */
  lineBudgetMs: number;
  /** How long a receiver has to answer. */
  timeoutMs: number;
  /** First retry after this; each next one twice as late, up to retryMaxMs (±20 % jitter). */
  retryBaseMs: number;
  retryMaxMs: number;
  /** A delivery is retried this long after its event, then failed. */
  retryForMs: number;
  /** A subscription whose every attempt failed this long, pauseAfterFailures times in a row at least, is paused. */
  pauseAfterMs: number;
  pauseAfterFailures: number;
  /** Attempts kept in a delivery's log. */
  logSize: number;
}

export const DEFAULT_EVENT_DELIVERY: EventDeliveryOptions = {
  pollIntervalMs: 1_000,
  concurrency: 256,
  perSubscription: 64,
  connectionsPerOrigin: 32,
  lineBatch: 50,
  lineBudgetMs: 60_000,
  timeoutMs: 10_000,
  retryBaseMs: 10_000,
  retryMaxMs: 3_600_000,
  retryForMs: 24 * 3_600_000,
  pauseAfterMs: 24 * 3_600_000,
  pauseAfterFailures: 10,
  logSize: 30,
};

/** In the set of active tenants after a failed read: poll, and read again then. */
const UNKNOWN = '';

/** A claimed delivery (DELIVERY_CLAIM's row). */
interface Claimed {
  id: string;
  /** The line's oldest delivery: rows with the same line are posted in id order. */
  line: string;
  attempts: number;
  subscriptionId: string;
  url: string;
  secretEnc: string;
  eventId: string;
  type: string;
  time: Date;
  tenantId: string;
  conversationId: string | null;
  messageId: string | null;
  data: unknown;
}

interface Settlement {
  id: string;
  ok: boolean;
  skipped: boolean;
  status: number | null;
  ms: number;
  error: string | null;
  retryInMs: number;
}

/** The body a receiver gets (docs/events.md). */
export function eventBody(c: Pick<Claimed, 'eventId' | 'type' | 'time' | 'tenantId' | 'conversationId' | 'messageId' | 'data'>): string {
  return JSON.stringify({
    id: c.eventId,
    type: c.type,
    time: new Date(c.time).toISOString(),
    tenantId: c.tenantId,
    conversationId: c.conversationId,
    messageId: c.messageId,
    data: c.data,
  });
}

/** The wait before retry `attempts + 1`: exponential from the base, capped, with jitter. */
export function retryDelayMs(attempts: number, opts: Pick<EventDeliveryOptions, 'retryBaseMs' | 'retryMaxMs'>): number {
  const exp = Math.min(opts.retryMaxMs, opts.retryBaseMs * 2 ** Math.min(30, Math.max(0, attempts - 1)));
  return Math.round(exp * (0.8 + Math.random() * 0.4));
}

/**
 * Delivers events to the subscriptions' receivers, beside the message path
 * and never on it: it only reads the rows the triggers wrote, on the pool's
 * work lane, a few statements at a time, and posts on its own dispatcher with
 * bounded concurrency, so a receiver that is down or slow holds back nothing
 * but its own deliveries. It takes *lines*: a (subscription, conversation)
 * whose oldest pending delivery is due, with the pending deliveries after it,
 * and posts them one after the other, so a conversation's events arrive in
 * order; every process runs one, and SKIP LOCKED shares the work. It wakes
 * when this process commits something (bus events), and polls for the rest.
 */
export class EventDelivery {
  private readonly dispatcher: Dispatcher;
  private readonly settler: Batcher<Settlement[], void>;
  private readonly inFlight = new Map<string, number>();
  private total = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerDue = 0;
  /** Tenants with an active subscription; with none, the worker runs no statement at all. */
  private active = new Set<string>();
  private refreshing: Promise<void> | null = null;
  private refreshAgain = false;
  private claiming = false;
  private again = false;
  private stopped = false;
  private readonly offs: (() => void)[] = [];
  private readonly posts = new Set<Promise<void>>();

  constructor(
    private readonly db: Db,
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly secretKeys: SecretKeys,
    egress: EgressPolicy,
    private readonly opts: EventDeliveryOptions = DEFAULT_EVENT_DELIVERY,
  ) {
    this.dispatcher = createEgressDispatcher(egress, { keepAliveTimeout: 30_000, connections: opts.connectionsPerOrigin });
    // One settle statement at a time; results that come meanwhile go together in the next.
    this.settler = new Batcher((items) => this.settle(items), 1, 1_000, (line) => line.length);
  }

  /** Reads which tenants have an active subscription, then the queue. */
  async start(): Promise<void> {
    // What this process commits for a subscribed tenant may have written events: look soon (coalesced), not at the next poll.
    for (const name of ['message.in', 'message.status', 'message.disposition', 'conversation.paused'] as const) {
      this.offs.push(this.bus.on(name, (e) => (this.active.has(e.tenantId) ? this.wakeSoon() : undefined)));
    }
    await this.refresh();
  }

  /**
   * Reads again which tenants have an active subscription: at start, when
   * any process announces a change of a tenant's subscriptions (or the
   * listener reconnects), and when a subscription was paused for failing. A
   * call during a read reads once more after it (that read may predate the
   * change). A failed read polls as if some tenant subscribed, and reads
   * again at the next poll.
   */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      let ok = true;
      try {
        this.active = new Set((await this.db.query<{ id: string }>(ACTIVE_TENANTS)).map((r) => r.id));
      } catch (err) {
        ok = false;
        this.log.warn({ err }, 'reading the tenants with event subscriptions failed; trying again at the next poll');
        this.active.add(UNKNOWN);
      } finally {
        this.refreshing = null;
      }
      if (this.refreshAgain) {
        this.refreshAgain = false;
        return this.refresh();
      }
      if (!ok) this.schedule(this.opts.pollIntervalMs);
      else if (this.active.size > 0) this.schedule(0);
    })();
    return this.refreshing;
  }

  /** A subscription changed here, or a redelivery was asked for: reads the active tenants and the queue now. */
  wake(): void {
    void this.refresh();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.offs) off();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // A line stops after the post in flight (its timeout at most); the rest of it is released, due again.
    await Promise.allSettled([...this.posts]);
    await this.dispatcher.close().catch(() => {});
  }

  private wakeSoon(): void {
    if (this.timer && this.timerDue - Date.now() <= 20) return;
    this.schedule(20);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = Date.now() + ms;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.claim();
    }, ms);
    this.timer.unref();
  }

  private async claim(): Promise<void> {
    if (this.active.has(UNKNOWN)) {
      void this.refresh();
      return;
    }
    if (this.claiming) {
      this.again = true;
      return;
    }
    this.claiming = true;
    let full = false;
    try {
      const free = this.opts.concurrency - this.total;
      if (free > 0 && !this.stopped) {
        const busy = [...this.inFlight].filter(([, n]) => n >= this.opts.perSubscription).map(([id]) => id);
        // Longer than a line may take: its budget, the last post's timeout, and the time to record it.
        const hideSeconds = Math.ceil((this.opts.lineBudgetMs + this.opts.timeoutMs) / 1000) + 30;
        const rows = await this.db.query<Claimed>(DELIVERY_CLAIM, [free, busy, hideSeconds, this.opts.lineBatch]);
        const lines = new Map<string, Claimed[]>();
        for (const row of rows) lines.set(row.line, [...(lines.get(row.line) ?? []), row]);
        full = lines.size === free;
        for (const line of lines.values()) this.postLine(line.sort((a, b) => Number(a.id) - Number(b.id)));
      }
    } catch (err) {
      this.log.warn({ err }, 'reading the event delivery queue failed; trying again later');
    } finally {
      this.claiming = false;
      if (this.again || full) {
        this.again = false;
        this.schedule(full ? 20 : 0);
      } else if (!this.timer && this.active.size > 0) {
        // Retries come due and other processes commit events: poll, but only while some tenant subscribes.
        this.schedule(this.opts.pollIntervalMs);
      }
    }
  }

  /**
   * Posts a line's deliveries one after the other; the first failure ends the
   * line (those after it are released, due again now), then records them all.
   */
  private postLine(rows: Claimed[]): void {
    const sub = rows[0].subscriptionId;
    this.total++;
    this.inFlight.set(sub, (this.inFlight.get(sub) ?? 0) + 1);
    const p = (async () => {
      const done: Settlement[] = [];
      const until = Date.now() + this.opts.lineBudgetMs;
      let failed = false;
      for (const row of rows) {
        if (failed || this.stopped || Date.now() > until) {
          done.push({ id: row.id, ok: false, skipped: true, status: null, ms: 0, error: null, retryInMs: 0 });
          continue;
        }
        let result: PostResult;
        try {
          const secret = decrypt(this.secretKeys, row.secretEnc);
          result = await postEvent(this.dispatcher, row.url, secret, eventBody(row), this.opts.timeoutMs);
        } catch (err) {
          result = { ok: false, status: null, ms: 0, error: err instanceof Error ? err.message : String(err) };
        }
        failed = !result.ok;
        done.push({ id: row.id, skipped: false, ...result, retryInMs: retryDelayMs(row.attempts + 1, this.opts) });
      }
      try {
        await this.settler.submit(done);
      } catch (err) {
        // The claim hides them for a while only: they are attempted again then.
        this.log.warn({ err, deliveries: rows.length }, 'recording event deliveries failed; they are attempted again later');
      }
    })().finally(() => {
      this.total--;
      const n = (this.inFlight.get(sub) ?? 1) - 1;
      if (n > 0) this.inFlight.set(sub, n);
      else this.inFlight.delete(sub);
      this.posts.delete(p);
      // A recorded line lets its next events go: look again now.
      this.wakeSoon();
    });
    this.posts.add(p);
  }

  private async settle(lines: Settlement[][]): Promise<PromiseSettledResult<void>[]> {
    const o = this.opts;
    const paused = await this.db.query<{ id: string; tenantId: string; pauseReason: string }>(DELIVERY_SETTLE, [
      JSON.stringify(lines.flat()),
      o.retryForMs / 1000,
      o.pauseAfterMs / 1000,
      o.pauseAfterFailures,
      o.logSize,
    ]);
    for (const s of paused) this.log.warn({ subscriptionId: s.id, tenantId: s.tenantId, reason: s.pauseReason }, 'event subscription paused: its endpoint keeps failing');
    if (paused.length > 0) void this.refresh();
    return lines.map(() => ({ status: 'fulfilled', value: undefined }));
  }
}
