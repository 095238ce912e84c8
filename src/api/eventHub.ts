import type { Bus } from '../shared/bus.ts';

/** One live update for the dashboard: small, the client fetches what it shows. */
export interface LiveEvent {
  /** message: a message was stored or sent; status: an outbound status changed; disposition: inbound messages settled; conversation: pause state changed. */
  type: 'message' | 'status' | 'disposition' | 'conversation';
  tenantId: string;
  conversationId: string;
  data: Record<string, unknown>;
}

/** A listener: a tenant's (or, with null, every tenant's) events, optionally one conversation's. */
export interface LiveSubscriber {
  tenantId: string | null;
  conversationId: string | null;
  send(event: LiveEvent): void;
}

/**
 * Fans the bus's events out to the live streams, filtered by tenant. One hub
 * per process subscribes to the bus once, whatever the number of streams (the
 * bus would warn past 100 listeners, and each stream's filter runs here).
 * Events are this process's: with several processes, a dashboard sees the
 * live updates of the one it is connected to (docs/api.md).
 */
export class EventHub {
  private readonly subscribers = new Set<LiveSubscriber>();
  private readonly offs: (() => void)[] = [];

  constructor(bus: Bus) {
    this.offs.push(
      bus.on('message.in', (e) =>
        this.publish({ type: 'message', tenantId: e.tenantId, conversationId: e.conversationId, data: { messageId: e.messageId, direction: e.direction, messageType: e.type, disposition: e.disposition } }),
      ),
      bus.on('message.out', (e) =>
        this.publish({ type: 'message', tenantId: e.tenantId, conversationId: e.conversationId, data: { messageId: e.messageId, direction: 'outbound', author: e.author, result: e.result } }),
      ),
      bus.on('message.status', (e) =>
        this.publish({ type: 'status', tenantId: e.tenantId, conversationId: e.conversationId, data: { messageId: e.messageId, status: e.status, errorCode: e.errorCode } }),
      ),
      bus.on('message.disposition', (e) =>
        this.publish({ type: 'disposition', tenantId: e.tenantId, conversationId: e.conversationId, data: { disposition: e.disposition, count: e.count } }),
      ),
      bus.on('conversation.paused', (e) =>
        this.publish({ type: 'conversation', tenantId: e.tenantId, conversationId: e.conversationId, data: { paused: e.paused, pausedUntil: e.pausedUntil, by: e.by } }),
      ),
    );
  }

  get size(): number {
    return this.subscribers.size;
  }

  /** Adds a subscriber; returns its removal. */
  add(sub: LiveSubscriber): () => void {
    this.subscribers.add(sub);
    return () => this.subscribers.delete(sub);
  }

  /** Sends an event to every subscriber allowed to see it. */
  publish(event: LiveEvent): void {
    for (const s of this.subscribers) {
      if (s.tenantId !== null && s.tenantId !== event.tenantId) continue;
      if (s.conversationId !== null && s.conversationId !== event.conversationId) continue;
      s.send(event);
    }
  }

  /** Detaches from the bus. */
  close(): void {
    for (const off of this.offs.splice(0)) off();
    this.subscribers.clear();
  }
}
