import type { Logger } from 'pino';
import type { Db } from '../db/db.ts';
import type { Bus } from '../shared/bus.ts';
import { RollingWindow, type Summary } from './rollingWindow.ts';
import { buildInfo } from './buildInfo.ts';
import type { HistogramChild } from './histogram.ts';
import { createSeries, type Series } from './series.ts';

/** A time series of `/performance-metrics`, in milliseconds. */
export interface TimedField {
  unit: 'ms';
  last_5_minutes: Summary;
  since_start: Summary;
}

/** The body of `GET /performance-metrics`: the fields the old system's analysis asked for. */
export interface PerformanceMetrics {
  /** End-to-end turn time: first customer message stored to answer sent. */
  avg_message_processing_time: TimedField;
  /** The pool now, and connections opened since start. */
  database_connection_count: { total: number; idle: number; waiting: number; opened_since_start: number };
  /** Time of one database statement. */
  database_operation_time: TimedField;
  /** Time a turn waited before its agent call. */
  queue_wait_time: TimedField;
  /** Time of a turn's agent (model) call. */
  ai_processing_time: TimedField;
  /** Turns running now and the most at once since start. */
  concurrent_messages: { current: number; peak: number };
}

/** The gateway's metrics: Prometheus series and rolling windows, fed by the bus. */
export interface Metrics {
  readonly series: Series;
  /** Prometheus text exposition of every series. */
  scrape(): Promise<string>;
  /** The `/performance-metrics` body. */
  performance(): PerformanceMetrics;
  /** Detaches from the bus. */
  stop(): void;
}

// Meta's message types; anything else (Meta adds types) is counted as "other"
// so that a label never takes a value the payload made up.
const MESSAGE_TYPES = new Set([
  'text', 'interactive', 'button', 'image', 'video', 'audio', 'document', 'sticker', 'location', 'contacts', 'reaction', 'order', 'system',
  'unsupported', 'unknown', 'request_welcome', 'ephemeral',
]);
const MAX_STATEMENT_LABELS = 256;
const MAX_ERROR_CODE_LABELS = 64;

/** Keeps at most `max` distinct values of a label; later ones become "other". */
function boundedLabel(max: number): (value: string) => string {
  const seen = new Set<string>();
  return (value) => {
    if (seen.has(value)) return value;
    if (seen.size >= max) return 'other';
    seen.add(value);
    return value;
  };
}

/** What the metrics read and listen to. */
export interface MetricsSources {
  db: Db;
  bus: Bus;
  log: Logger;
  /** Give the turn histograms a `tenant` label (WAGATE_METRICS_TENANT_HISTOGRAMS; default false). */
  tenantHistograms?: boolean;
}

/**
 * Subscribes the metrics to the bus; the round-trip and connection counters
 * start from `db.stats`, so what happened before is not lost. `now` is for tests.
 */
export function createMetrics({ db, bus, log, tenantHistograms = false }: MetricsSources, now: () => number = Date.now): Metrics {
  const s = createSeries(() => db.poolState(), { tenantHistograms, build: buildInfo() });
  const windows = {
    turn: new RollingWindow(now),
    statement: new RollingWindow(now),
    queue: new RollingWindow(now),
    agent: new RollingWindow(now),
  };
  const statementLabel = boundedLabel(MAX_STATEMENT_LABELS);
  const errorCodeLabel = boundedLabel(MAX_ERROR_CODE_LABELS);
  const typeLabel = (t: string) => (MESSAGE_TYPES.has(t) ? t : 'other');
  const code = (c: number | null) => (c === null ? '' : errorCodeLabel(String(c)));
  let connectionsOpened = db.stats.connectionsOpened;
  let inflight = 0;
  let inflightPeak = 0;
  if (db.stats.roundTrips > 0) s.dbRoundTrips.inc(db.stats.roundTrips);
  if (connectionsOpened > 0) s.dbConnectionsOpened.inc(connectionsOpened);

  const statementChildren = new Map<string, HistogramChild>();
  const ackChildren = new Map<number, HistogramChild>();
  const turnChildren = new Map<string, Record<'queue' | 'agent' | 'send' | 'total' | 'overhead', HistogramChild>>();
  // Without per-tenant histograms every tenant's turns go to the one unlabelled series.
  const turnSeries = (tenantId: string) => {
    const tenant = tenantHistograms ? tenantId : '';
    let c = turnChildren.get(tenant);
    if (!c) {
      c = {
        queue: s.turnQueueWait.child(tenant),
        agent: s.turnAgent.child(tenant),
        send: s.turnSend.child(tenant),
        total: s.turnTotal.child(tenant),
        overhead: s.turnOverhead.child(tenant),
      };
      turnChildren.set(tenant, c);
    }
    return c;
  };

  const unsubscribe: (() => void)[] = [];
  // A listener runs inside the stage that emitted: it must never throw into it.
  const on: Bus['on'] = (name, fn) => {
    const off = bus.on(name, (payload) => {
      try {
        fn(payload);
      } catch (err) {
        log.error({ err, event: name }, 'metrics listener failed');
      }
    });
    unsubscribe.push(off);
    return off;
  };

  on('db.connect', () => {
    connectionsOpened++;
    s.dbConnectionsOpened.inc();
  });
  on('db.statement', ({ name, ms }) => {
    s.dbRoundTrips.inc();
    const label = statementLabel(name || 'unnamed');
    let child = statementChildren.get(label);
    if (!child) statementChildren.set(label, (child = s.dbStatement.child(label)));
    child.observe(ms / 1000);
    windows.statement.record(ms);
  });
  on('webhook.ack', ({ status, ms }) => {
    let child = ackChildren.get(status);
    if (!child) ackChildren.set(status, (child = s.webhookAck.child(String(status))));
    child.observe(ms / 1000);
  });
  on('webhook.unroutable', () => s.unroutable.inc());
  on('db.server_exited', () => s.embeddedExits.inc());
  on('webhook.body_bytes', ({ bytes }) => s.webhookBodyBytes.set(bytes));
  on('message.in', (e) => s.messagesIn.labels(e.tenantId, typeLabel(e.type), e.direction).inc());
  on('message.disposition', (e) => s.dispositions.labels(e.tenantId, e.disposition).inc(e.count));
  on('send.retry', (e) => s.sendRetries.labels(e.tenantId, code(e.errorCode)).inc());
  on('send.waiting', ({ count }) => s.sendsWaiting.set(count));
  on('message.out', (e) => s.messagesOut.labels(e.tenantId, e.author, e.result, code(e.errorCode)).inc());
  on('message.status', (e) => s.statuses.labels(e.tenantId, e.status, code(e.errorCode)).inc());
  on('turn.done', (e) => {
    const c = turnSeries(e.tenantId);
    c.queue.observe(e.queueMs / 1000);
    c.agent.observe(e.agentMs / 1000);
    c.send.observe(e.sendMs / 1000);
    c.total.observe(e.totalMs / 1000);
    c.overhead.observe(Math.max(0, e.totalMs - e.agentMs - e.sendMs) / 1000);
    s.turns.labels(e.tenantId, e.disposition).inc();
    windows.turn.record(e.totalMs);
    windows.queue.record(e.queueMs);
    windows.agent.record(e.agentMs);
  });
  on('turn.budget_delayed', (e) => s.turnsBudgetDelayed.labels(e.tenantId).inc());
  const toolTimes = new Map<string, HistogramChild>();
  on('tool.call', (e) => {
    s.toolCalls.labels(e.tenantId, e.status).inc();
    if (e.status !== 'ok' && e.status !== 'error' && e.status !== 'timeout') return;
    let child = toolTimes.get(e.status);
    if (!child) toolTimes.set(e.status, (child = s.toolCallTime.child(e.status)));
    child.observe(e.ms / 1000);
  });
  on('media.settled', (e) => s.media.labels(e.tenantId, e.kind, e.status, e.error ?? 'none').inc());
  on('turn.inflight', ({ count }) => {
    inflight = count;
    if (count > inflightPeak) inflightPeak = count;
    s.turnsInflight.set(count);
    s.turnsInflightPeak.set(inflightPeak);
  });

  const timed = (w: RollingWindow): TimedField => ({ unit: 'ms', last_5_minutes: w.lastFiveMinutes(), since_start: w.sinceStart() });
  return {
    series: s,
    scrape: () => s.registry.metrics(),
    performance() {
      const pool = db.poolState();
      return {
        avg_message_processing_time: timed(windows.turn),
        database_connection_count: { total: pool.total, idle: pool.idle, waiting: pool.waiting, opened_since_start: connectionsOpened },
        database_operation_time: timed(windows.statement),
        queue_wait_time: timed(windows.queue),
        ai_processing_time: timed(windows.agent),
        concurrent_messages: { current: inflight, peak: inflightPeak },
      };
    },
    stop() {
      for (const off of unsubscribe.splice(0)) off();
    },
  };
}
