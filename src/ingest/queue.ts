import { isUnavailable, type Db } from '../db/db.ts';
import { Batcher } from '../shared/batcher.ts';
import type { InboundItem, Notification, StatusItem } from '../webhook/normalize.ts';
import { ingest, type IngestResult } from './ingest.ts';

export interface IngestQueueOptions {
  leaseOwner: string;
  leaseSeconds: number;
  /** Ingest statements running at once (the ingest lane's connections). */
  maxInFlight: number;
  /** Notifications merged into one statement at most. */
  maxBatch?: number;
  /** Receives what each statement committed (the conversation runner). */
  onCommitted: (result: IngestResult) => void;
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
    this.batcher = new Batcher((items, key) => this.store(items, key === '' ? null : key), Math.max(1, opts.maxInFlight), opts.maxBatch ?? 200);
  }

  /** Stores a notification (on a channel's own URL, only that channel's numbers). */
  submit(n: Notification, onlyChannelId: string | null): Promise<void> {
    return this.batcher.submit(n, onlyChannelId ?? '');
  }

  private async store(items: Notification[], onlyChannelId: string | null): Promise<PromiseSettledResult<void>[]> {
    try {
      await this.storeOne(items.length === 1 ? items[0] : merge(items), onlyChannelId);
      return items.map(() => ({ status: 'fulfilled', value: undefined }));
    } catch (err) {
      if (items.length === 1 || isUnavailable(err)) throw err;
      return Promise.allSettled(items.map((n) => this.storeOne(n, onlyChannelId)));
    }
  }

  private async storeOne(n: Notification, onlyChannelId: string | null): Promise<void> {
    const result = await ingest(this.db, n, { leaseOwner: this.opts.leaseOwner, leaseSeconds: this.opts.leaseSeconds, onlyChannelId });
    this.opts.onCommitted(result);
  }
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
