import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { BuildInfo } from './buildInfo.ts';
import { LabelledHistogram } from './histogram.ts';

/**
 * Histogram bounds in seconds, from 100 µs to 60 s in a 1–1.5–2–3–5–7.5
 * progression: fine enough below 10 ms that a gateway overhead of a
 * millisecond or two can be read from the buckets, wide enough for a slow model.
 */
export const SECONDS_BUCKETS = [
  0.0001, 0.00015, 0.0002, 0.0003, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1,
  0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 60,
];

/** Every Prometheus series the gateway exposes, in one registry of its own. */
export interface Series {
  readonly registry: Registry;
  readonly webhookAck: LabelledHistogram;
  readonly turnQueueWait: LabelledHistogram;
  readonly turnAgent: LabelledHistogram;
  readonly turnSend: LabelledHistogram;
  readonly turnTotal: LabelledHistogram;
  readonly turnOverhead: LabelledHistogram;
  readonly dbStatement: LabelledHistogram;
  readonly messagesIn: Counter<'tenant' | 'type' | 'direction'>;
  readonly dispositions: Counter<'tenant' | 'disposition'>;
  readonly messagesOut: Counter<'tenant' | 'author' | 'result' | 'error_code'>;
  readonly statuses: Counter<'tenant' | 'status' | 'error_code'>;
  readonly sendRetries: Counter<'tenant' | 'error_code'>;
  readonly sendsWaiting: Gauge<string>;
  readonly turns: Counter<'tenant' | 'disposition'>;
  readonly turnsBudgetDelayed: Counter<'tenant'>;
  readonly toolCalls: Counter<'tenant' | 'status'>;
  readonly toolCallTime: LabelledHistogram;
  readonly media: Counter<'tenant' | 'kind' | 'status' | 'error'>;
  readonly dbRoundTrips: Counter<string>;
  readonly dbConnectionsOpened: Counter<string>;
  readonly embeddedExits: Counter<string>;
  readonly unroutable: Counter<string>;
  readonly webhookBodyBytes: Gauge<string>;
  readonly poolConnections: Gauge<string>;
  readonly poolIdle: Gauge<string>;
  readonly poolWaiting: Gauge<string>;
  readonly turnsInflight: Gauge<string>;
  readonly turnsInflightPeak: Gauge<string>;
  readonly buildInfo: Gauge<'version' | 'node_version'>;
}

/** How the series are shaped. */
export interface SeriesOptions {
  /**
   * Give the five turn histograms a `tenant` label
   * (WAGATE_METRICS_TENANT_HISTOGRAMS). Off by default: 36 series per
   * histogram per tenant is about 190 series a tenant, 40k at 200 tenants,
   * while the per-tenant counters already say how each tenant's turns end.
   */
  tenantHistograms: boolean;
  /** What `wagate_build_info` reports. */
  build: BuildInfo;
}

/**
 * Creates the series in a new registry (never prom-client's global one, so
 * several gateways in one process, as in the tests, keep separate counts).
 * `pool` is read at scrape time for the pool gauges.
 */
export function createSeries(pool: () => { total: number; idle: number; waiting: number }, options: SeriesOptions): Series {
  const registry = new Registry();
  const registers = [registry];
  const seconds = (name: string, help: string, [label]: [string | null]) => new LabelledHistogram(registry, name, help, label, SECONDS_BUCKETS);
  const tenant = options.tenantHistograms ? 'tenant' : null;
  const counter = (name: string, help: string, labelNames: string[] = []) => new Counter({ name, help, labelNames, registers });
  const gauge = (name: string, help: string, collect?: (this: Gauge) => void) => new Gauge({ name, help, registers, collect });

  const series: Series = {
    registry,
    webhookAck: seconds('wagate_webhook_ack_seconds', 'Time from a webhook POST arriving to its answer, by HTTP status.', ['status']),
    turnQueueWait: seconds('wagate_turn_queue_wait_seconds', 'Time a turn waited before its agent call started.', [tenant]),
    turnAgent: seconds('wagate_turn_agent_seconds', 'Time a turn spent in the agent (model) call, retries included.', [tenant]),
    turnSend: seconds('wagate_turn_send_seconds', "Time a turn spent sending its answer to the Cloud API.", [tenant]),
    turnTotal: seconds('wagate_turn_seconds', 'End-to-end turn time: first message stored to answer sent.', [tenant]),
    turnOverhead: seconds('wagate_turn_overhead_seconds', "The gateway's own share of a turn: its time minus agent and send time.", [tenant]),
    dbStatement: seconds('wagate_db_statement_seconds', 'Time of one database statement (one round trip), by statement name.', ['statement']),
    messagesIn: counter('wagate_messages_in_total', 'Messages stored from webhooks, by type and direction (outbound: echoes of the business app).', ['tenant', 'type', 'direction']),
    dispositions: counter('wagate_message_dispositions_total', 'Inbound messages by final disposition.', ['tenant', 'disposition']),
    messagesOut: counter('wagate_messages_out_total', 'Messages sent by the gateway, by author, result and Cloud API error code.', ['tenant', 'author', 'result', 'error_code']),
    statuses: counter('wagate_message_statuses_total', 'Status changes of outbound messages, with the Cloud API error code of failures.', ['tenant', 'status', 'error_code']),
    sendRetries: counter('wagate_send_retries_total', 'Sends that failed with a temporary error (network, 5xx, Meta temporary codes) and wait to try again.', ['tenant', 'error_code']),
    sendsWaiting: gauge('wagate_sends_waiting', 'Conversations whose reply waits to be sent again after a temporary error.'),
    turns: counter('wagate_turns_total', 'Turns finished, by disposition.', ['tenant', 'disposition']),
    turnsBudgetDelayed: counter(
      'wagate_turns_budget_delayed_total',
      "Turns that waited because their conversation had used the tenant's answer budget (answerBudget).",
      ['tenant'],
    ),
    toolCalls: counter('wagate_tool_calls_total', 'Tenant tool calls the agent asked for, by outcome (reused: answered from an earlier identical call).', ['tenant', 'status']),
    toolCallTime: seconds('wagate_tool_call_seconds', "Time of a tenant tool endpoint's answer (calls made), by outcome.", ['status']),
    media: counter('wagate_media_total', 'Inbound media messages the media lane settled, by type, status (ready, failed) and reason (docs/media.md).', ['tenant', 'kind', 'status', 'error']),
    dbRoundTrips: counter('wagate_db_round_trips_total', 'Database statements sent (each one round trip).'),
    dbConnectionsOpened: counter('wagate_db_connections_opened_total', 'Database connections opened by the pool.'),
    embeddedExits: counter('wagate_embedded_postgres_exits_total', 'Times the embedded PostgreSQL exited on its own (each followed by a restart).'),
    unroutable: counter('wagate_webhook_unroutable_total', 'Notifications naming a phone_number_id that no channel has.'),
    webhookBodyBytes: gauge('wagate_webhook_body_bytes_in_flight', 'Bytes of webhook bodies being read now (bounded by WAGATE_WEBHOOK_INFLIGHT_BYTES).'),
    // Not `_total`: that suffix is for counters, and this goes up and down.
    poolConnections: gauge('wagate_db_pool_connections', 'Connections in the pool, idle or in use.', function () {
      this.set(pool().total);
    }),
    poolIdle: gauge('wagate_db_pool_idle', 'Idle connections in the pool.', function () {
      this.set(pool().idle);
    }),
    poolWaiting: gauge('wagate_db_pool_waiting', 'Requests waiting for a pool connection.', function () {
      this.set(pool().waiting);
    }),
    turnsInflight: gauge('wagate_turns_inflight', 'Turns running now.'),
    turnsInflightPeak: gauge('wagate_turns_inflight_peak', 'Most turns running at once since start.'),
    buildInfo: new Gauge({
      name: 'wagate_build_info',
      help: 'Always 1; its labels say which wagate and Node.js versions run.',
      labelNames: ['version', 'node_version'],
      registers,
    }),
  };
  series.buildInfo.labels(options.build.version, options.build.nodeVersion).set(1);
  // Process CPU, resident memory, heap and event-loop lag, under their usual names.
  collectDefaultMetrics({ register: registry });
  return series;
}
