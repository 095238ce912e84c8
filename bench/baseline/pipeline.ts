import { decrypt } from '../../src/shared/secrets.ts';
import type { BaselineMetrics } from './metrics.ts';
import {
  GET_OR_CREATE_CONTACT,
  LOG_MESSAGE,
  LOG_RESPONSE,
  onNewConnection,
  PAUSE_CHECK,
  TRACK_USAGE,
  UPDATE_CONTACT_INTERACTION,
  USAGE_CHECK,
  USER_BY_PHONE,
  type OperationCounts,
} from './statements.ts';

/**
 * The old service's message path, re-created for the benchmark only: a
 * global in-memory queue, 3 workers, a fixed 50 ms debounce per customer,
 * then for each message the 8 separate database operations of the analysis,
 * each on a new connection, the agent call and the send.
 *
 * Two things are kinder to it than the original was: its database calls do
 * not block the event loop (the original's synchronous psycopg2 calls stalled
 * every other worker and the webhook server while they ran), and it ignores
 * status webhooks (the analysis lists no work for them).
 */

export interface BaselineOptions {
  databaseUrl: string;
  /** Base URL of the Cloud API, e.g. http://127.0.0.1:4000/v25.0. */
  whatsappApiUrl: string;
  /** OpenAI-compatible base URL, e.g. http://127.0.0.1:4001/v1. */
  modelBaseUrl: string;
  modelApiKey: string;
  model: string;
  /** Decrypts the channels' access tokens (the same key wagate stored them with). */
  secretKey: Buffer;
  /** Default 3, as in the old service. */
  workers?: number;
  /** Default 50, as in the old service. */
  debounceMs?: number;
}

/** A customer's text message as the webhook handler hands it over. */
export interface InboundText {
  phoneNumberId: string;
  from: string;
  profileName: string | null;
  wamid: string;
  text: string;
}

interface QueueItem {
  phoneNumberId: string;
  from: string;
  profileName: string | null;
  messages: { wamid: string; text: string }[];
  /** performance.now() when the first message of the burst arrived. */
  receivedAt: number;
  /** performance.now() when the debounce put it on the queue. */
  queuedAt: number;
}

/** The old pipeline: `enqueue` from the webhook handler, `start` the workers. */
export class BaselinePipeline {
  /** Statements sent and connections opened, all counted. */
  readonly counts: OperationCounts;
  private readonly queue: QueueItem[] = [];
  private queueHead = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly debouncing = new Map<string, { item: Omit<QueueItem, 'queuedAt'>; timer: NodeJS.Timeout }>();
  private readonly workers: Promise<void>[] = [];
  private running = false;
  private readonly reported = new Set<string>();

  constructor(
    private readonly opts: BaselineOptions,
    private readonly metrics: BaselineMetrics,
  ) {
    this.counts = metrics.counts;
  }

  /** Starts the workers (3 by default). */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (let i = 0; i < (this.opts.workers ?? 3); i++) this.workers.push(this.work());
  }

  /** Stops the workers after the message each is on; what is queued is dropped, as the old service lost it. */
  async stop(): Promise<void> {
    this.running = false;
    for (const d of this.debouncing.values()) clearTimeout(d.timer);
    this.debouncing.clear();
    for (const wake of this.waiting.splice(0)) wake();
    await Promise.all(this.workers);
  }

  /** Messages waiting in the queue. */
  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  /** The debounce: a customer's messages within 50 ms of each other become one item. */
  enqueue(m: InboundText): void {
    if (!this.running) return;
    const key = `${m.phoneNumberId}:${m.from}`;
    const pending = this.debouncing.get(key);
    if (pending) {
      clearTimeout(pending.timer);
      pending.item.messages.push({ wamid: m.wamid, text: m.text });
    }
    const item = pending?.item ?? { phoneNumberId: m.phoneNumberId, from: m.from, profileName: m.profileName, messages: [{ wamid: m.wamid, text: m.text }], receivedAt: performance.now() };
    const timer = setTimeout(() => {
      this.debouncing.delete(key);
      this.queue.push({ ...item, queuedAt: performance.now() });
      this.waiting.shift()?.();
    }, this.opts.debounceMs ?? 50);
    this.debouncing.set(key, { item, timer });
  }

  private async next(): Promise<QueueItem | null> {
    while (this.running) {
      if (this.queueHead < this.queue.length) {
        const item = this.queue[this.queueHead++];
        // Compact now and then so the array does not grow for ever.
        if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
          this.queue.splice(0, this.queueHead);
          this.queueHead = 0;
        }
        return item;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    return null;
  }

  private async work(): Promise<void> {
    for (let item = await this.next(); item; item = await this.next()) {
      try {
        await this.process(item);
      } catch (err) {
        this.reportOnce(err);
      }
    }
  }

  private reportOnce(err: unknown): void {
    const msg = err instanceof Error ? err.message : String(err);
    if (this.reported.size >= 20 || this.reported.has(msg)) return;
    this.reported.add(msg);
    process.stderr.write(`baseline: ${msg}\n`);
  }

  private op<R extends object>(text: string, params: unknown[]): Promise<R[]> {
    return onNewConnection<R>(this.opts.databaseUrl, this.counts, text, params);
  }

  private async process(item: QueueItem): Promise<void> {
    const started = performance.now();
    const [user] = await this.op<{ channel_id: string; tenant_id: string; access_token_enc: string; monthly_message_limit: number | null }>(USER_BY_PHONE, [item.phoneNumberId]);
    if (!user) return;
    const [usage] = await this.op<{ count: number }>(USAGE_CHECK, [user.tenant_id]);
    if (user.monthly_message_limit !== null && usage.count >= user.monthly_message_limit) return;
    const [contact] = await this.op<{ conversation_id: string; contact_id: string }>(GET_OR_CREATE_CONTACT, [user.tenant_id, user.channel_id, item.from, item.profileName]);
    for (const m of item.messages) await this.op(LOG_MESSAGE, [user.tenant_id, user.channel_id, contact.conversation_id, m.wamid, m.text]);
    await this.op(UPDATE_CONTACT_INTERACTION, [contact.contact_id]);
    const [conv] = await this.op<{ paused: boolean }>(PAUSE_CHECK, [contact.conversation_id]);
    if (conv.paused) return;

    const agentStarted = performance.now();
    const reply = await this.askModel(item.messages.map((m) => m.text).join('\n'));
    const agentMs = performance.now() - agentStarted;

    await this.op(LOG_RESPONSE, [user.tenant_id, user.channel_id, contact.conversation_id, reply]);
    await this.op(TRACK_USAGE, [user.tenant_id]);

    const sendStarted = performance.now();
    const ok = await this.send(item.phoneNumberId, decrypt(this.opts.secretKey, user.access_token_enc), item.from, reply);
    const done = performance.now();
    const sendMs = done - sendStarted;
    const totalMs = done - item.receivedAt;
    this.metrics.messagesOut.labels(ok ? 'sent' : 'failed').inc();
    this.metrics.queueWait.observe((started - item.queuedAt) / 1000);
    this.metrics.agent.observe(agentMs / 1000);
    this.metrics.send.observe(sendMs / 1000);
    this.metrics.total.observe(totalMs / 1000);
    this.metrics.overhead.observe(Math.max(0, totalMs - agentMs - sendMs) / 1000);
  }

  private async askModel(text: string): Promise<string> {
    const res = await fetch(`${this.opts.modelBaseUrl}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.opts.modelApiKey}` },
      body: JSON.stringify({ model: this.opts.model, messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: text }] }),
    });
    const body = (await res.json()) as { choices?: { message?: { content?: string | null } }[] };
    if (!res.ok) throw new Error(`model answered ${res.status}`);
    return body.choices?.[0]?.message?.content ?? '';
  }

  private async send(phoneNumberId: string, token: string, to: string, text: string): Promise<boolean> {
    const res = await fetch(`${this.opts.whatsappApiUrl}/${phoneNumberId}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ messaging_product: 'whatsapp', to, type: 'text', text: { body: text } }),
    });
    await res.arrayBuffer();
    return res.ok;
  }
}
