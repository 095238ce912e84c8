import { Counter, Histogram, Registry } from 'prom-client';
import { SECONDS_BUCKETS } from '../../src/metrics/series.ts';
import type { OperationCounts } from './statements.ts';

/**
 * The baseline's own measurements, under the same series names and buckets
 * as wagate's `/metrics`, so the benchmark reads both pipelines the same way.
 */
export interface BaselineMetrics {
  readonly registry: Registry;
  /** Incremented by every operation; the two counters below read it. */
  readonly counts: OperationCounts;
  readonly ack: Histogram<'status'>;
  readonly queueWait: Histogram<string>;
  readonly agent: Histogram<string>;
  readonly send: Histogram<string>;
  readonly total: Histogram<string>;
  readonly overhead: Histogram<string>;
  readonly messagesOut: Counter<'result'>;
}

/** Creates the baseline's registry. */
export function createBaselineMetrics(): BaselineMetrics {
  const registry = new Registry();
  const registers = [registry];
  const counts: OperationCounts = { roundTrips: 0, connectionsOpened: 0 };
  const seconds = (name: string, help: string) => new Histogram({ name, help, buckets: SECONDS_BUCKETS, registers });
  new Counter({
    name: 'wagate_db_round_trips_total',
    help: 'Database statements sent by the baseline (each one round trip).',
    registers,
    collect() {
      this.reset();
      this.inc(counts.roundTrips);
    },
  });
  new Counter({
    name: 'wagate_db_connections_opened_total',
    help: 'Database connections the baseline opened (one per operation).',
    registers,
    collect() {
      this.reset();
      this.inc(counts.connectionsOpened);
    },
  });
  return {
    registry,
    counts,
    ack: new Histogram({ name: 'wagate_webhook_ack_seconds', help: 'Time from a webhook POST arriving to its answer.', labelNames: ['status'], buckets: SECONDS_BUCKETS, registers }),
    queueWait: seconds('wagate_turn_queue_wait_seconds', 'Time a debounced message waited in the global queue.'),
    agent: seconds('wagate_turn_agent_seconds', 'Time of the model call.'),
    send: seconds('wagate_turn_send_seconds', 'Time of the Cloud API send.'),
    total: seconds('wagate_turn_seconds', 'Webhook received to answer sent, debounce and queue included.'),
    overhead: seconds('wagate_turn_overhead_seconds', 'Turn time minus model and send time.'),
    messagesOut: new Counter({ name: 'wagate_messages_out_total', help: 'Answers sent, by result.', labelNames: ['result'], registers }),
  };
}
