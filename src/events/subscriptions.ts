import type { Db } from '../db/db.ts';
import { EgressRefusedError, type EgressPolicy } from '../shared/egress.ts';
import { badRequest, notFound } from '../shared/errors.ts';
import { encrypt } from '../shared/secrets.ts';
import {
  DELIVERY_LIST,
  DELIVERY_REDELIVER,
  SUBSCRIPTION_CREATE,
  SUBSCRIPTION_DELETE,
  SUBSCRIPTION_GET,
  SUBSCRIPTION_LIST,
  SUBSCRIPTION_UPDATE,
} from './events.sql.ts';

/** A subscription as the API shows it (never its secret). */
export interface Subscription {
  id: string;
  tenantId: string;
  url: string;
  events: string[];
  pausedAt: Date | null;
  pauseReason: string | null;
  failingSince: Date | null;
  consecutiveFailures: number;
  createdAt: Date;
  updatedAt: Date;
}

/** One attempt of a delivery, as its log keeps it. */
export interface DeliveryAttempt {
  at: string;
  status: number | null;
  ms: number;
  error: string | null;
}

/** One event for one subscription, with its attempts. */
export interface Delivery {
  id: string;
  subscriptionId: string;
  eventId: string;
  type: string;
  conversationId: string | null;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAt: Date;
  lastStatus: number | null;
  lastError: string | null;
  log: DeliveryAttempt[];
  createdAt: Date;
  finishedAt: Date | null;
}

/** What a tenant changes on a subscription (undefined keeps it). */
export interface SubscriptionPatch {
  url?: string;
  secret?: string;
  events?: string[];
  paused?: boolean;
}

/**
 * A tenant's event subscriptions (docs/events.md): the URL is checked by the
 * egress policy when saved (and again at every connection), the secret is
 * stored encrypted. `tenantId` null is the admin key, which reaches any
 * tenant's; a tenant key naming another tenant's subscription gets 404.
 */
export class EventSubscriptions {
  constructor(
    private readonly db: Db,
    private readonly secretKey: Buffer,
    private readonly egress: EgressPolicy,
  ) {}

  async create(tenantId: string, input: { url: string; secret: string; events: string[] }): Promise<Subscription> {
    await this.checkUrl(input.url);
    const [row] = await this.db.query<Subscription>(SUBSCRIPTION_CREATE, [tenantId, input.url, encrypt(this.secretKey, input.secret), dedupe(input.events)]);
    return row;
  }

  list(tenantId: string | null): Promise<Subscription[]> {
    return this.db.query<Subscription>(SUBSCRIPTION_LIST, [tenantId]);
  }

  async get(id: string, tenantId: string | null): Promise<Subscription> {
    const [row] = await this.db.query<Subscription>(SUBSCRIPTION_GET, [id, tenantId]);
    if (!row) throw notFound('event subscription');
    return row;
  }

  async update(id: string, tenantId: string | null, patch: SubscriptionPatch): Promise<Subscription> {
    await this.get(id, tenantId);
    if (patch.url !== undefined) await this.checkUrl(patch.url);
    const secret = patch.secret === undefined ? null : encrypt(this.secretKey, patch.secret);
    const events = patch.events === undefined ? null : dedupe(patch.events);
    const [row] = await this.db.query<Subscription>(SUBSCRIPTION_UPDATE, [id, tenantId, patch.url ?? null, secret, events, patch.paused ?? null]);
    if (!row) throw notFound('event subscription');
    return row;
  }

  async remove(id: string, tenantId: string | null): Promise<Subscription> {
    const [row] = await this.db.query<Subscription>(SUBSCRIPTION_DELETE, [id, tenantId]);
    if (!row) throw notFound('event subscription');
    return row;
  }

  /** A subscription's deliveries, newest first, `limit` at a time from before `before`. */
  async deliveries(id: string, tenantId: string | null, before: string | null, limit: number): Promise<Delivery[]> {
    await this.get(id, tenantId);
    return this.db.query<Delivery>(DELIVERY_LIST, [id, before, limit]);
  }

  /** A new delivery of a delivery's event (the same event id), due now. */
  async redeliver(deliveryId: string, tenantId: string | null): Promise<Delivery> {
    const [row] = await this.db.query<Delivery>(DELIVERY_REDELIVER, [deliveryId, tenantId]);
    if (!row) throw notFound('event delivery');
    return row;
  }

  private async checkUrl(url: string): Promise<void> {
    try {
      await this.egress.checkUrl(url);
    } catch (err) {
      if (err instanceof EgressRefusedError) throw badRequest('egress_refused', `url: ${err.message}`);
      throw err;
    }
  }
}

const dedupe = (events: string[]): string[] => [...new Set(events)];
