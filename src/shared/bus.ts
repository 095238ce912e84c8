import { EventEmitter } from 'node:events';

/**
 * The typed events the stages emit. Metrics, logs and the live API listen to
 * them; the stages never import a metrics library.
 */
export interface Events {
  /** A connection was opened by the pool. */
  'db.connect': Record<string, never>;
  /** The embedded PostgreSQL exited on its own; the gateway restarts it. */
  'db.server_exited': { code: number | null; signal: string | null };
  /** One statement (one round trip) finished. */
  'db.statement': { name: string; ms: number };
  /** A webhook POST was answered. */
  'webhook.ack': { status: number; ms: number };
  /** Bytes of webhook bodies being read now, out of WAGATE_WEBHOOK_INFLIGHT_BYTES (sent at each change). */
  'webhook.body_bytes': { bytes: number };
  /** A notification named a phone_number_id no channel has. */
  'webhook.unroutable': { phoneNumberId: string };
  /** Messages stored (inbound or echoes). */
  'message.in': { tenantId: string; conversationId: string; messageId: string; type: string; direction: 'inbound' | 'outbound'; disposition: string | null };
  /** An outbound message's status changed (our send or a status webhook). */
  'message.status': { tenantId: string; conversationId: string; messageId: string; status: string; errorCode: number | null };
  /** A message was sent by the gateway (agent, operator, fallback, notice). */
  'message.out': { tenantId: string; conversationId: string; messageId: string; author: string; result: 'sent' | 'failed'; errorCode: number | null; ms: number };
  /** An inbound message got its final disposition. */
  'message.disposition': { tenantId: string; conversationId: string; disposition: string; count: number };
  /** A conversation's pause state changed. */
  'conversation.paused': { tenantId: string; conversationId: string; paused: boolean; pausedUntil: string | null; by: string };
  /**
   * A turn finished: its time split into stages. totalMs runs from the moment
   * this process learned of the turn's first message (just after the ingest
   * commit) to the Cloud API's acceptance of the reply's last part; the write
   * that records the send comes after and is not in it.
   */
  'turn.done': { tenantId: string; conversationId: string; disposition: string; queueMs: number; agentMs: number; sendMs: number; totalMs: number };
  /** A send failed with a temporary error and waits to try again. */
  'send.retry': { tenantId: string; errorCode: number };
  /** Conversations whose send is waiting to try again (sent at each change). */
  'send.waiting': { count: number };
  /**
   * A turn waits because its conversation used its answer budget; `waitMs`
   * until the window frees a slot (as first computed), `pending` messages so far.
   */
  'turn.budget_delayed': { tenantId: string; conversationId: string; waitMs: number; pending: number };
  /** Turns running now. */
  'turn.inflight': { count: number };
  /**
   * A tenant tool call the agent asked for (docs/tools.md): made (`ok`,
   * `error`, `timeout`, with the endpoint's time), refused for its arguments
   * (`invalid_arguments`), or answered from an earlier identical call (`reused`).
   */
  'tool.call': { tenantId: string; conversationId: string; tool: string; status: 'ok' | 'error' | 'timeout' | 'invalid_arguments' | 'reused'; ms: number };
  /** The media lane settled a media message: ready, or failed with its reason (docs/media.md). */
  'media.settled': { tenantId: string; kind: string; status: string; error: string | null; ms: number };
}

export type EventName = keyof Events;

/** A small typed wrapper over EventEmitter. */
export class Bus {
  private readonly ee = new EventEmitter();
  constructor() {
    this.ee.setMaxListeners(100);
  }
  emit<K extends EventName>(name: K, payload: Events[K]): void {
    this.ee.emit(name, payload);
  }
  on<K extends EventName>(name: K, fn: (payload: Events[K]) => void): () => void {
    this.ee.on(name, fn);
    return () => this.ee.off(name, fn);
  }
}
