import { isOutOfResources, isUnavailable, type Db } from '../db/db.ts';
import { Batcher } from '../shared/batcher.ts';
import type { Semaphore } from '../shared/semaphore.ts';
import { MAX_UPDATES_PER_NOTIFICATION, type InboundItem, type Notification, type StatusItem } from '../webhook/normalize.ts';
import { ingest, type IngestResult } from './ingest.ts';
import type { UnroutableReporter } from './unroutable.ts';

/** Who takes the leases and for how long, how many statements run at once, and who gets what they stored. */
export interface IngestQueueOptions {
  /**
   * Held by every statement that updates outbound message rows in batches
   * (status webhooks here, send results in delivery): one at a time, so that
   * they never lock the same rows in different orders and deadlock.
   */
  outboundRows: Semaphore;
  leaseOwner: string;
  leaseSeconds: number;
  /** Ingest statements running at once for the gateway's own app (the ingest lane's connections). */
  maxInFlight: number;
  /** Updates (messages or statuses) merged into one statement at most. */
  maxBatch?: number;
  /** Told of each phone_number_id that no channel has. */
  unroutable: UnroutableReporter;
  /** Receives what each statement committed (the conversation runner). */
  onCommitted: (result: IngestResult) => void;
  /** Told when onCommitted throws (the sweep still finds the work: it is in the rows). */
  onHandOffError?: (err: unknown) => void;
}

/**
 * Stores notifications: one statement for each, or, while the ingest lane is
 * busy, one statement for all that arrived meanwhile. Each caller's promise
 * resolves only after the statement carrying its notification committed, so
 * the webhook still answers 200 only for what is stored. If a merged
 * statement fails for any reason other than the database being unreachable,
 * each notification is stored alone, so one bad notification cannot fail
 * the others.
 */
export class IngestQueue {
  private readonly batcher: Batcher<Notification, void>;

  constructor(
    private readonly db: Db,
    private readonly opts: IngestQueueOptions,
  ) {
    // Status statements run one at a time anyway (outboundRows). Message
    // statements of the gateway's own app (every tenant on it) use the whole
    // lane; a channel with its own app (whose tenant can sign anything) gets
    // one statement at a time, so its flood waits behind its own work and the
    // rest of the lane stays free for everyone else.
    // Its notifications are also stored in slices of OWN_APP_SLICE updates, so
    // that no single statement of it, nor the parsing of its result, holds
    // the event loop or a connection for long; and after each slice its
    // slot rests, so that a channel kept busy holds at most OWN_APP_SHARE of
    // one connection's time (and of the database's CPU).
    const ownApp = (key: string) => key !== 'm:' && key !== 's:';
    const inFlight = (key: string) => (key.startsWith('s:') || key !== 'm:' ? 1 : Math.max(1, opts.maxInFlight));
    const maxBatch = (key: string) => (ownApp(key) ? OWN_APP_SLICE : (opts.maxBatch ?? MAX_UPDATES_PER_NOTIFICATION));
    const rest = (key: string, ranMs: number) => (ownApp(key) ? ranMs * (1 / OWN_APP_SHARE - 1) : 0);
    this.batcher = new Batcher((items, key) => this.store(items, key), inFlight, maxBatch, updates, rest);
  }

  /**
   * Stores a notification (on a channel's own URL, only that channel's
   * numbers). Messages and statuses go in separate statements: a message locks
   * its conversation, a status an outbound message row, and a statement doing
   * both could deadlock with the sender's result writes, which lock in the
   * other order.
   */
  async submit(n: Notification, onlyChannelId: string | null): Promise<void> {
    const channel = onlyChannelId ?? '';
    const slice = onlyChannelId ? OWN_APP_SLICE : Infinity;
    const parts: Promise<void>[] = [];
    // Slices are stored in order (one statement at a time per own-app
    // channel); a redelivery after a failed slice skips what is stored.
    for (const messages of slices(n.messages, slice)) parts.push(this.batcher.submit({ messages, statuses: [], ignored: n.ignored }, `m:${channel}`));
    for (const statuses of slices(n.statuses, slice)) parts.push(this.batcher.submit({ messages: [], statuses, ignored: 0 }, `s:${channel}`));
    await Promise.all(parts);
  }

  private async store(items: Notification[], key: string): Promise<PromiseSettledResult<void>[]> {
    const onlyChannelId = key.slice(2) || null;
    if (key.startsWith('s:')) return this.opts.outboundRows.run(() => this.storeAll(items, onlyChannelId));
    return this.storeAll(items, onlyChannelId);
  }

  private async storeAll(items: Notification[], onlyChannelId: string | null): Promise<PromiseSettledResult<void>[]> {
    try {
      await this.storeOne(items.length === 1 ? items[0] : merge(items), onlyChannelId);
      return items.map(() => ({ status: 'fulfilled', value: undefined }));
    } catch (err) {
      // Stored one by one, each would fail the same way.
      if (items.length === 1 || isUnavailable(err) || isOutOfResources(err)) throw err;
      return Promise.allSettled(items.map((n) => this.storeOne(n, onlyChannelId)));
    }
  }

  private async storeOne(n: Notification, onlyChannelId: string | null): Promise<void> {
    const result = await ingest(this.db, n, { leaseOwner: this.opts.leaseOwner, leaseSeconds: this.opts.leaseSeconds, onlyChannelId });
    for (const pid of result.unroutable) this.opts.unroutable.note(pid);
    // Committed: whatever the hand-off does, this notification is stored and must not be stored again.
    try {
      this.opts.onCommitted(result);
    } catch (err) {
      this.opts.onHandOffError?.(err);
    }
  }
}

/** Updates of an own-app channel's notification stored in one statement at most. */
export const OWN_APP_SLICE = 100;
/** The share of one ingest connection's time an own-app channel can keep busy. */
export const OWN_APP_SHARE = 0.25;

function slices<T>(items: T[], size: number): T[][] {
  if (items.length <= size) return items.length > 0 ? [items] : [];
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function updates(n: Notification): number {
  return n.messages.length + n.statuses.length;
}

/** One notification of several, keeping each one's order (idx) after the ones before it. */
function merge(items: Notification[]): Notification {
  const messages: InboundItem[] = [];
  const statuses: StatusItem[] = [];
  let base = 0;
  let ignored = 0;
  for (const n of items) {
    let top = 0;
    for (const m of n.messages) {
      messages.push({ ...m, idx: base + m.idx });
      top = Math.max(top, m.idx + 1);
    }
    for (const s of n.statuses) {
      statuses.push({ ...s, idx: base + s.idx });
      top = Math.max(top, s.idx + 1);
    }
    base += top;
    ignored += n.ignored;
  }
  return { messages, statuses, ignored };
}
