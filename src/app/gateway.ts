import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { createDb, ingestLaneSize, type Db } from '../db/db.ts';
import { IngestQueue } from '../ingest/queue.ts';
import { Semaphore } from '../shared/semaphore.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from '../db/embedded.ts';
import { migrate } from '../db/migrate.ts';
import type { IngestConsumer, IngestResult } from '../ingest/ingest.ts';
import { Bus } from '../shared/bus.ts';
import { ChannelDirectory } from '../tenancy/channels.ts';
import { Provisioning } from '../tenancy/provision.ts';
import type { AppContext } from './context.ts';
import { buildServer, type RoutePlugin } from './server.ts';

/** How long a conversation's lease lasts without renewal (the runner renews it every 5 s). */
export const LEASE_SECONDS = 15;

/** A part of the gateway with a life of its own (runner, sweeper, sender). */
export interface Service {
  /** Stops taking new work and finishes or releases what it holds, within `graceMs`. */
  stop(graceMs: number): Promise<void>;
}

export interface GatewayOptions {
  log?: Logger;
  /** Route sets beyond webhooks and provisioning. */
  plugins?: RoutePlugin[];
  /** Builds the consumer of ingested messages and the services behind it. */
  services?: (ctx: AppContext) => Promise<{ consumer: IngestConsumer; services: Service[] }>;
  /** Listen on the configured port (default true). */
  listen?: boolean;
}

export interface Gateway {
  readonly ctx: AppContext;
  readonly app: FastifyInstance;
  /** http://host:port once listening. */
  readonly url: string;
  /** The PostgreSQL URL in use (the embedded server's when no DATABASE_URL). */
  readonly databaseUrl: string;
  stop(): Promise<void>;
}

/** A consumer that only records the hand-off: what arrives before a runner exists. */
export class RecordingConsumer implements IngestConsumer {
  readonly received: IngestResult[] = [];
  onIngested(result: IngestResult): void {
    this.received.push(result);
  }
}

/**
 * Starts everything: PostgreSQL (embedded unless DATABASE_URL), migrations,
 * the pool, the stages and the HTTP server.
 */
export async function startGateway(config: Config, opts: GatewayOptions = {}): Promise<Gateway> {
  const log = opts.log ?? pino({ level: config.logLevel });
  let embedded: EmbeddedServer | null = null;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres(config.dataDir, { ...config.embeddedPostgres, log: (l) => log.debug({ pg: l }, 'postgres') });
    databaseUrl = embedded.url;
  }
  let opened: Db | null = null;
  try {
    const applied = await migrate(databaseUrl);
    if (applied.length) log.info({ applied }, 'migrations applied');
    const bus = new Bus();
    const db = createDb({ connectionString: databaseUrl, max: config.dbPoolMax, bus });
    opened = db;
    await db.warm();
    const unroutableSeen = new Set<string>();
    const defaultProvider = config.openai.apiKey ? 'openai' : 'demo';
    const leaseOwner = randomUUID();
    const outboundRows = new Semaphore(1);
    const ctx: AppContext = {
      config,
      db,
      databaseUrl,
      bus,
      log,
      leaseOwner,
      outboundRows,
      ingest: new IngestQueue(db, {
        outboundRows,
        leaseOwner,
        leaseSeconds: LEASE_SECONDS,
        maxInFlight: ingestLaneSize(config.dbPoolMax),
        onCommitted: (result) => {
          for (const pid of result.unroutable) ctx.noteUnroutable(pid);
          ctx.consumer.onIngested(result);
        },
        onHandOffError: (err) => log.error({ err }, 'handing ingested messages to the runner failed; the sweep will find them'),
      }),
      channels: new ChannelDirectory(db, config.secretKey),
      provisioning: new Provisioning(db, config.secretKey, defaultProvider),
      consumer: new RecordingConsumer(),
      noteUnroutable(pid) {
        bus.emit('webhook.unroutable', { phoneNumberId: pid });
        if (unroutableSeen.size < 10_000 && !unroutableSeen.has(pid)) {
          unroutableSeen.add(pid);
          log.warn({ phoneNumberId: pid }, 'notification for a phone_number_id that no channel has');
        }
      },
      state: { accepting: true, ready: false },
    };
    const built = opts.services ? await opts.services(ctx) : { consumer: ctx.consumer, services: [] };
    ctx.consumer = built.consumer;
    const app = await buildServer(ctx, opts.plugins ?? []);
    let url = '';
    if (opts.listen !== false) {
      url = await app.listen({ port: config.port, host: config.host });
    } else {
      await app.ready();
    }
    ctx.state.ready = true;
    let stopping: Promise<void> | null = null;
    return {
      ctx,
      app,
      url,
      databaseUrl,
      stop() {
        stopping ??= (async () => {
          ctx.state.accepting = false;
          for (const s of built.services) await s.stop(config.shutdownGraceMs).catch((err) => log.error({ err }, 'stopping a service failed'));
          await app.close();
          await db.close();
          if (embedded) await embedded.stop();
        })();
        return stopping;
      },
    };
  } catch (err) {
    await opened?.close().catch(() => {});
    if (embedded) await embedded.stop().catch(() => {});
    throw err;
  }
}
