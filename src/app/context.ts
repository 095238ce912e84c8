import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import type { Db } from '../db/db.ts';
import type { IngestConsumer } from '../ingest/ingest.ts';
import type { IngestQueue } from '../ingest/queue.ts';
import type { Semaphore } from '../shared/semaphore.ts';
import type { Bus } from '../shared/bus.ts';
import type { ChannelDirectory } from '../tenancy/channels.ts';
import type { Provisioning } from '../tenancy/provision.ts';
import type { Pipeline } from '../conversation/services.ts';
import type { CloudApiSimulator } from '../sandbox/cloudApiSimulator.ts';

/** What the HTTP layer and the stages share: built once at start, never per request. */
export interface AppContext {
  readonly config: Config;
  readonly db: Db;
  /** The PostgreSQL URL in use (for the one LISTEN connection). */
  readonly databaseUrl: string;
  readonly bus: Bus;
  readonly log: Logger;
  /** This process's lease id (a new one at every start). */
  readonly leaseOwner: string;
  readonly channels: ChannelDirectory;
  readonly provisioning: Provisioning;
  /** Stores notifications (one statement each, merged while the ingest lane is busy). */
  readonly ingest: IngestQueue;
  /**
   * Held by the statements that update outbound message rows in batches
   * (status webhooks, send results): one at a time, so that they never lock
   * the same rows in different orders and deadlock each other.
   */
  readonly outboundRows: Semaphore;
  /** Receives what ingest committed. */
  consumer: IngestConsumer;
  /** Counts and logs (once per id) a phone_number_id that no channel has. */
  noteUnroutable(phoneNumberId: string): void;
  /** The conversation pipeline, once started (absent in gateways that only store). */
  pipeline?: Pipeline;
  /** Sandbox mode only: the built-in Cloud API simulator. */
  sandbox?: { simulator: CloudApiSimulator };
  /** False once shutdown began: webhooks answer 503. */
  readonly state: { accepting: boolean; ready: boolean };
}
