import type { Logger } from 'pino';
import type { IngestResult } from '../ingest/ingest.ts';
import type { PacerOptions } from '../outbound/pacer.ts';
import type { RetryOptions } from '../outbound/retry.ts';
import type { RunnerOptions } from '../conversation/runner.ts';
import type { EventDeliveryOptions } from '../events/eventDelivery.ts';
import type { CloudApiSimulator } from '../sandbox/cloudApiSimulator.ts';
import type { EgressLookup } from '../shared/egress.ts';
import type { MediaStore } from '../shared/mediaStore.ts';
import type { HousekeepingOptions } from '../tenancy/housekeeping.ts';

/**
 * Timings of the conversation pipeline. Production uses the defaults; tests
 * and the benchmark shorten the waits (the logic is the same).
 */
export interface PipelineTimings {
  /** The runner's pacing, and how long a lease lasts (default LEASE_SECONDS) for every statement that takes or keeps one, ingest's included. */
  runner?: Partial<RunnerOptions> & { leaseSeconds?: number };
  /** Backoff of Cloud API sends. */
  retry?: Pick<RetryOptions, 'maxAttempts' | 'baseMs' | 'maxMs' | 'retryForMs'>;
  pacer?: PacerOptions;
  /** Pause between agent attempts. */
  agentBackoffMs?: number;
  /** Share of WAGATE_MAX_INFLIGHT one tenant may use (default 0.5). */
  perTenantShare?: number;
  /** How often housekeeping runs and its batch size (default every minute, 1,000 rows). */
  housekeeping?: Partial<HousekeepingOptions>;
  /** Event delivery: polling, timeout, retries and the auto-pause (default: docs/events.md). */
  events?: Partial<EventDeliveryOptions>;
  /** Waits between media attempts after a temporary failure (default 0.5 s, 2 s, 8 s). */
  mediaBackoffMs?: number[];
}

/**
 * What a caller may change about the gateway `startGateway` builds from the
 * configuration: the one typed door for tests and the benchmark.
 */
export interface GatewayOverrides {
  /** The logger (default: pino at the configured level, on stdout). */
  log?: Logger;
  /** Listen on the configured port (default true). */
  listen?: boolean;
  /**
   * false: store webhooks only, with no conversation runner (no answers, no
   * sweep). For the acknowledgement benchmark and tests of the inbound path.
   */
  answer?: boolean;
  /** Told of what each ingest statement committed, besides the runner (tests of the inbound path). */
  onIngested?: (result: IngestResult) => void;
  /** Shorter waits for tests. */
  timings?: PipelineTimings;
  /**
   * A running Cloud API simulator to send through instead of
   * WHATSAPP_API_URL; its phone page is served at /sandbox. In sandbox mode
   * the gateway starts one itself when none is given.
   */
  simulator?: CloudApiSimulator;
  /**
   * How the egress policy resolves the host names of tenant-set URLs, at
   * save time and at connect time (default: the system resolver). Tests of
   * DNS rebinding answer differently at each.
   */
  egressLookup?: EgressLookup;
  /** The media store to use instead of the configured one (tests of the S3 store). */
  mediaStore?: MediaStore;
}
