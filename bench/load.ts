import { Pool } from 'undici';
import { RollingWindow, type Summary } from '../src/metrics/rollingWindow.ts';
import type { CloudApiSimulator } from '../src/sandbox/cloudApiSimulator.ts';
import { sign } from '../src/webhook/signature.ts';

/** One simulated customer: writes to one business number, waits for the answer, writes again. */
export interface Customer {
  /** The channel's phone_number_id the customer writes to. */
  phoneNumberId: string;
  /** The customer's WhatsApp number. */
  waId: string;
}

export interface LoadOptions {
  /** Base URLs of the pipeline's processes; messages go round robin, as through a load balancer. */
  targets: string[];
  /** The Cloud APIs the pipeline sends through: answers are learnt from their `send` events. */
  simulators: CloudApiSimulator[];
  appSecret: string;
  customers: Customer[];
  /** Messages each customer writes at most; 0: no limit (until `stopWriting`). */
  messagesPerCustomer: number;
  /**
   * Connections per target. Default: one per customer (each has one webhook in flight at most),
   * as Meta opens as many as it needs; fewer would queue webhooks inside this
   * client and count that wait as acknowledgement time.
   */
  connections?: number;
  /** Share of messages that are voice notes (0: text only), served by each target's simulator. */
  mediaShare?: number;
}

/** The voice note customers send: an Ogg Opus header and filler, as file-type recognises one. */
export function benchVoiceNote(bytes = 4_000): Buffer {
  const head = Buffer.alloc(47);
  head.write('OggS', 0, 'latin1');
  head[5] = 2;
  head.writeUInt32LE(1, 14);
  head[26] = 1;
  head[27] = 19;
  head.write('OpusHead', 28, 'latin1');
  head[36] = 1;
  head[37] = 1;
  head.writeUInt32LE(48_000, 40);
  return Buffer.concat([head, Buffer.alloc(bytes, 7)]);
}

/** What the load has seen so far. */
export interface LoadSnapshot {
  /** Webhooks posted (customer messages only, not the simulators' statuses). */
  sent: number;
  /** Answers received since start. */
  answered: number;
  /** Answers received since `beginMeasuring`. */
  answeredMeasured: number;
  /** Customers waiting for an answer now. */
  waiting: number;
  /** Messages whose answer had not come when `drain` gave up on them. */
  abandoned: number;
  /** Webhooks not answered 200. */
  rejected: number;
  /** Webhooks that failed at the HTTP level (connection refused, reset). */
  failed: number;
  /** Sends that matched no waiting customer (a fallback text, an answer to an old message). */
  unmatched: number;
  /**
   * Client-side times, ms: the acknowledgement of each webhook posted since
   * `beginMeasuring`, and the end-to-end time of each answer received since
   * then (whenever its message was posted: a pipeline with a deep queue answers
   * in the window messages posted before it).
   */
  ackMs: Summary;
  endToEndMs: Summary;
  /** The end-to-end times of text messages alone. */
  textEndToEndMs: Summary;
}

interface Waiter {
  text: string;
  resolve: (answeredAt: number | null) => void;
}

/**
 * Simulated customers, each a loop: post a signed text webhook (timing its
 * acknowledgement), wait until the Cloud API receives the answer addressed to
 * it (end-to-end time), write again. An answer is recognised by its recipient
 * and by ending with the customer's last text (the fake model echoes it), so a
 * late answer to an earlier message is never taken for the current one.
 */
export class Load {
  private readonly pools: Pool[];
  private readonly waiters = new Map<string, Waiter>();
  private readonly offs: (() => void)[] = [];
  private readonly loops: Promise<void>[] = [];
  private writing = true;
  private measuring = false;
  /** While set, customers write no new message (see `quiesce`). */
  private held: { promise: Promise<void>; release: () => void } | null = null;
  /** Messages posted whose answer (or refusal) has not come yet. */
  private open = 0;
  private readonly idleWaiters = new Set<() => void>();
  private next = 0;
  private seq = 0;
  private ack = new RollingWindow();
  private e2e = new RollingWindow();
  private textE2e = new RollingWindow();
  /** Per target: the voice note on its simulator's shelf, and the answer's end (the fake transcript, echoed). */
  private readonly voice: { id: string; sha256: string; answerEnds: string }[];
  /** Every `every`-th message is a voice note (0: none). */
  private readonly every: number;
  private counts = { sent: 0, answered: 0, answeredMeasured: 0, rejected: 0, failed: 0, unmatched: 0, abandoned: 0 };
  private readonly stamp = Date.now().toString(36);

  constructor(private readonly opts: LoadOptions) {
    if (opts.targets.length === 0) throw new Error('the load needs at least one target');
    const connections = opts.connections ?? Math.max(1, opts.customers.length);
    this.pools = opts.targets.map((t) => new Pool(t, { connections, keepAliveTimeout: 60_000, pipelining: 1 }));
    for (const sim of opts.simulators) {
      this.offs.push(sim.on('send', (e) => this.onSend(e.phoneNumberId, e.to, e.body)));
    }
    const share = opts.mediaShare ?? 0;
    this.every = share > 0 ? Math.max(1, Math.round(1 / share)) : 0;
    const note = benchVoiceNote();
    // The gateway names a voice note without a file name voice.ogg; the fake model transcribes it as this and echoes it.
    this.voice = this.every ? opts.simulators.map((sim) => ({ ...sim.media.add(note, { mime: 'audio/ogg' }), answerEnds: `transcript of voice.ogg (${note.length} bytes)` })) : [];
  }

  /** Every customer starts writing. */
  start(): void {
    for (const c of this.opts.customers) this.loops.push(this.customer(c));
  }

  /** From now on, times are recorded and answers counted as measured. */
  beginMeasuring(): void {
    this.ack = new RollingWindow();
    this.e2e = new RollingWindow();
    this.textE2e = new RollingWindow();
    this.counts.answeredMeasured = 0;
    this.measuring = true;
  }

  /**
   * Holds new messages back until every message posted has its answer (or
   * `timeoutMs` passed), then resolves with a function that lets customers
   * write again. Between the two, nothing is in flight: counters read then
   * cut no message's work in two.
   */
  async quiesce(timeoutMs: number): Promise<() => void> {
    let release!: () => void;
    const promise = new Promise<void>((resolve) => (release = resolve));
    const held = { promise, release: () => {} };
    held.release = () => {
      if (this.held === held) this.held = null;
      release();
    };
    this.held = held;
    if (this.open > 0) {
      let wake!: () => void;
      const idle = new Promise<void>((resolve) => (wake = resolve));
      this.idleWaiters.add(wake);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([idle, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
      this.idleWaiters.delete(wake);
    }
    return held.release;
  }

  /** Customers write no new message; those waiting keep waiting. */
  stopWriting(): void {
    this.writing = false;
  }

  /** Waits until every customer has its answer or `timeoutMs` passed; then gives up on the rest. */
  async drain(timeoutMs: number): Promise<void> {
    this.stopWriting();
    this.held?.release();
    const all = Promise.all(this.loops);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([all, timedOut]);
    clearTimeout(timer);
    this.counts.abandoned += this.waiters.size;
    for (const w of this.waiters.values()) w.resolve(null);
    this.waiters.clear();
    await all;
  }

  snapshot(): LoadSnapshot {
    return { ...this.counts, waiting: this.waiters.size, ackMs: this.ack.sinceStart(), endToEndMs: this.e2e.sinceStart(), textEndToEndMs: this.textE2e.sinceStart() };
  }

  async close(): Promise<void> {
    await this.drain(0);
    for (const off of this.offs.splice(0)) off();
    await Promise.all(this.pools.map((p) => p.destroy()));
  }

  private onSend(phoneNumberId: string, to: string | null, body: string): void {
    const at = performance.now();
    const key = `${phoneNumberId}|${to}`;
    const w = this.waiters.get(key);
    if (!w || !body.endsWith(w.text)) {
      this.counts.unmatched++;
      return;
    }
    this.waiters.delete(key);
    w.resolve(at);
  }

  private async customer(c: Customer): Promise<void> {
    const key = `${c.phoneNumberId}|${c.waId}`;
    for (let n = 0; this.writing && (this.opts.messagesPerCustomer === 0 || n < this.opts.messagesPerCustomer); n++) {
      if (this.held) {
        await this.held.promise;
        if (!this.writing) return;
      }
      this.open++;
      try {
        if (!(await this.message(c, key))) return;
      } finally {
        if (--this.open === 0) for (const wake of this.idleWaiters) wake();
      }
    }
  }

  /** Posts one message and waits for its answer; false when the answer was given up on. */
  private async message(c: Customer, key: string): Promise<boolean> {
    const target = this.next++ % this.pools.length;
    const pool = this.pools[target];
    const voice = this.every > 0 && this.seq % this.every === 0 ? this.voice[target] : null;
    const text = `m${this.stamp}.${(this.seq++).toString(36)} from ${c.waId}`;
    const wamid = `wamid.BENCH${this.stamp}${this.seq.toString(36)}`;
    const raw = voice ? voiceNotification(c, voice, wamid) : notification(c, text, wamid);
    const answered = new Promise<number | null>((resolve) => this.waiters.set(key, { text: voice ? voice.answerEnds : text, resolve }));
    const measured = this.measuring;
    const started = performance.now();
    this.counts.sent++;
    let status = 0;
    try {
      const res = await pool.request({
        method: 'POST',
        path: '/webhooks/whatsapp',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(raw, this.opts.appSecret) },
        body: raw,
      });
      await res.body.dump();
      status = res.statusCode;
    } catch {
      this.counts.failed++;
    }
    const acked = performance.now();
    if (status !== 200) {
      if (status !== 0) this.counts.rejected++;
      this.waiters.delete(key);
      // A refused message gets no answer; wait a little before writing again rather than spin.
      await new Promise((r) => setTimeout(r, 100));
      return true;
    }
    if (measured) this.ack.record(acked - started);
    const at = await answered;
    if (at === null) return false;
    this.counts.answered++;
    if (this.measuring) {
      this.counts.answeredMeasured++;
      this.e2e.record(at - started);
      if (!voice) this.textE2e.record(at - started);
    }
    return true;
  }
}

/** A `messages` notification with one voice note, as Meta sends it. */
function voiceNotification(c: Customer, voice: { id: string; sha256: string }, wamid: string): string {
  return messagesNotification(c, { from: c.waId, id: wamid, timestamp: String(Math.floor(Date.now() / 1000)), type: 'audio', audio: { id: voice.id, mime_type: 'audio/ogg; codecs=opus', sha256: voice.sha256, voice: true } });
}

/** A WhatsApp `messages` notification with one text message, as Meta sends it. */
function notification(c: Customer, text: string, wamid: string): string {
  return messagesNotification(c, { from: c.waId, id: wamid, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: text } });
}

/** A `messages` notification of the customer's number carrying one message. */
function messagesNotification(c: Customer, message: Record<string, unknown>): string {
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: 'BENCH_WABA',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550100', phone_number_id: c.phoneNumberId },
              contacts: [{ profile: { name: `Customer ${c.waId}` }, wa_id: c.waId }],
              messages: [message],
            },
          },
        ],
      },
    ],
  });
}
