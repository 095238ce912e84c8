import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { createAgentRegistry } from '../agent/registry.ts';
import { Authenticator } from '../api/auth.ts';
import { EventHub } from '../api/eventHub.ts';
import { KeyListener } from '../api/keyListener.ts';
import { Sessions } from '../api/sessions.ts';
import type { Config } from '../config/config.ts';
import { ConversationRunner, DEFAULT_RUNNER_OPTIONS } from '../conversation/runner.ts';
import { Delivery } from '../conversation/delivery.ts';
import { LEASE_SECONDS, type LeaseTerms } from '../conversation/leaseBook.ts';
import { FairLimiter } from '../conversation/limiter.ts';
import { Takeover } from '../conversation/takeover.ts';
import { TurnRunner } from '../conversation/turn.ts';
import { WorkListener } from '../conversation/workListener.ts';
import { ingestLaneSize, type Db } from '../db/db.ts';
import { DEFAULT_EVENT_DELIVERY, EventDelivery } from '../events/eventDelivery.ts';
import { EventSubscriptions } from '../events/subscriptions.ts';
import { ProcessLock } from '../db/processLock.ts';
import { IngestQueue } from '../ingest/queue.ts';
import { UnroutableReporter } from '../ingest/unroutable.ts';
import { createMetrics, type Metrics } from '../metrics/metrics.ts';
import { createCloudApi } from '../outbound/cloudApi.ts';
import { Pacer } from '../outbound/pacer.ts';
import { startCloudApiSimulator, type CloudApiSimulator } from '../sandbox/cloudApiSimulator.ts';
import { DEMO_TEMPLATES, ensureDemoTenant, loadSandboxState, SANDBOX_PHONE_NUMBER_ID, SANDBOX_WABA_ID, type DemoTenant } from '../sandbox/setup.ts';
import { Bus } from '../shared/bus.ts';
import { EgressPolicy, parseEgressAllow } from '../shared/egress.ts';
import { ToolAdmin } from '../tenancy/tools.ts';
import { ToolCaller } from '../agent/tools/toolCaller.ts';
import { createAgentDispatcher } from '../agent/postJson.ts';
import { demoToolSecret, demoToolUrl, ensureDemoTool } from '../sandbox/demoTool.ts';
import { createEgressDispatcher } from '../shared/egressDispatcher.ts';
import { RichSender } from '../conversation/richSend.ts';
import { TemplateSync } from '../outbound/templateSync.ts';
import { MediaLane } from '../media/lane.ts';
import { FileMediaStore, type MediaStore } from '../shared/mediaStore.ts';
import { S3MediaStore } from '../shared/s3MediaStore.ts';
import path from 'node:path';
import { Semaphore } from '../shared/semaphore.ts';
import { ApiKeys } from '../tenancy/apiKeys.ts';
import { AuditLog } from '../tenancy/auditLog.ts';
import { ChannelAdmin } from '../tenancy/channelAdmin.ts';
import { ChannelDirectory } from '../tenancy/channels.ts';
import { DEFAULT_HOUSEKEEPING, Housekeeping } from '../tenancy/housekeeping.ts';
import { Provisioning } from '../tenancy/provision.ts';
import { checkSecretKeys } from '../tenancy/secretCanary.ts';
import { TenantLifecycle } from '../tenancy/tenantLifecycle.ts';
import { TenantDirectory } from '../tenancy/tenantSettings.ts';
import { openDatabase } from './database.ts';
import type { GatewayOverrides } from './overrides.ts';
import { buildServer, type Lifecycle } from './server.ts';
import { StopList } from './stopList.ts';

/** A running gateway: what the CLI, the tests and the benchmark hold. */
export interface Gateway {
  readonly config: Config;
  readonly log: Logger;
  /** http://host:port once listening ('' with `listen: false`). */
  readonly url: string;
  readonly http: FastifyInstance;
  /** The PostgreSQL URL of the pool (the embedded server's when no DATABASE_URL; maybe a pooler's). */
  readonly databaseUrl: string;
  /** The URL that reaches PostgreSQL without a pooler (DATABASE_DIRECT_URL, or databaseUrl). */
  readonly directUrl: string;
  readonly db: Db;
  readonly bus: Bus;
  /** This process's lease id (a new one at every start). */
  readonly leaseOwner: string;
  readonly provisioning: Provisioning;
  /** Tenant deletions, channel removals and retention, in batches. */
  readonly housekeeping: Housekeeping;
  /** Where inbound media files are kept (docs/media.md). */
  readonly mediaStore: MediaStore;
  readonly metrics: Metrics;
  /** Pause, resume and manual sends, as the operator API uses them. */
  readonly takeover: Takeover;
  /** The conversation runner; null when the gateway only stores (`answer: false`). */
  readonly runner: ConversationRunner | null;
  /** Sandbox mode (or a simulator given): the Cloud API simulator and the demo tenant. */
  readonly sandbox: { simulator: CloudApiSimulator; demo: DemoTenant | null } | null;
  /** SIGTERM's work: webhooks 503, turns finish within the grace, then everything closes in reverse order. */
  stop(): Promise<void>;
}

/**
 * Builds and starts the whole gateway from its configuration, in dependency
 * order: database, bus and caches, metrics, Cloud API, agents, the
 * conversation runner, ingest (whose commits feed the runner), the HTTP
 * server with every route set, and in sandbox mode the simulator and demo
 * tenant. Every part receives the few things it uses; nothing is filled in
 * later. `stop` takes them down in the reverse order.
 */
export async function startGateway(config: Config, overrides: GatewayOverrides = {}): Promise<Gateway> {
  const log = overrides.log ?? pino({ level: config.logLevel });
  const stops = new StopList(log);
  try {
    return await build(config, overrides, log, stops);
  } catch (err) {
    await stops.run();
    throw err;
  }
}

async function build(config: Config, overrides: GatewayOverrides, log: Logger, stops: StopList): Promise<Gateway> {
  const timings = overrides.timings ?? {};
  const lifecycle: Lifecycle = { accepting: true, ready: false };

  // Ground floor: the database, the bus every stage reports on, the caches.
  const bus = new Bus();
  const database = await openDatabase(config, log, bus);
  stops.add('database', () => database.close());
  // The pool may go through a transaction-mode pooler; what needs one server session (LISTEN, the process lock) uses directUrl.
  const { db, databaseUrl, directUrl } = database;
  // One lease, one length: ingest takes it, the runner renews, claims and releases it.
  const { leaseSeconds = LEASE_SECONDS, ...pacing } = timings.runner ?? {};
  const lease: LeaseTerms = { owner: randomUUID(), seconds: leaseSeconds };
  // The lease owner's proof of life, held before any lease is taken and given up last (stops run in reverse order).
  const processLock = new ProcessLock(lease.owner, directUrl, log, bus);
  await processLock.start();
  stops.add('process lock', () => processLock.stop());
  // Decrypts with WAGATE_SECRET_KEY, and WAGATE_SECRET_KEY_PREVIOUS during a rotation; a key that fits neither stops the start here.
  const secretKeys = config.previousSecretKey ? [config.secretKey, config.previousSecretKey] : [config.secretKey];
  await checkSecretKeys(db, secretKeys);
  const defaultProvider = config.openai.apiKey ? 'openai' : 'demo';
  const channels = new ChannelDirectory(db, secretKeys);
  // One policy for every URL a tenant sets: checked when saved, and again at every connection.
  const egress = new EgressPolicy({ allow: config.egressAllow, lookup: overrides.egressLookup });
  // What a tenant may run on the operator's model key.
  const models = {
    defaultModel: config.openai.model,
    allowedModels: config.allowedModels,
    defaultTranscriptionModel: config.media.transcriptionModel,
    allowedTranscriptionModels: config.media.allowedTranscriptionModels,
  };
  const provisioning = new Provisioning(db, config.secretKey, defaultProvider, models, egress);
  const tenants = new TenantDirectory(db, secretKeys, defaultProvider, models);
  // Sandbox: the demo tenant, its channel and key (once per data directory), and its demo tool, which the
  // sandbox serves itself on loopback: the egress policy allows this port for the demo tenant alone.
  let demo: DemoTenant | null = null;
  let demoTool: { tenantId: string; policy: EgressPolicy; secret: string } | null = null;
  if (config.sandbox) {
    const state = await loadSandboxState(config.dataDir);
    demo = await ensureDemoTenant(db, provisioning, config.dataDir, state, defaultProvider);
  }
  if (demo && config.port > 0) {
    const [own] = parseEgressAllow(`127.0.0.1:${config.port}`);
    demoTool = { tenantId: demo.tenantId, policy: new EgressPolicy({ allow: [...config.egressAllow, own], lookup: overrides.egressLookup }), secret: demoToolSecret(config.secretKey) };
  }
  const egressFor = (tenantId: string) => (demoTool && tenantId === demoTool.tenantId ? demoTool.policy : egress);
  // Tenant tools: saved through the API, called by the agents (docs/tools.md).
  const toolAdmin = new ToolAdmin(db, config.secretKey, egressFor);
  if (demo && demoTool) await ensureDemoTool(toolAdmin, demo.tenantId, demoToolUrl(config.port), demoTool.secret);
  // API keys and dashboard sessions; revocations and sign-outs reach every process through the key listener.
  const apiKeys = new ApiKeys(db);
  const sessions = new Sessions(db, config.sessionHours * 3_600_000);
  const auth = new Authenticator(config.adminKey, apiKeys, sessions);
  // Event webhooks: the triggers write the events with what they describe; this worker posts them, beside the message path.
  const eventSubscriptions = new EventSubscriptions(db, config.secretKey, egress);
  const eventDelivery = new EventDelivery(db, bus, log, secretKeys, egress, { ...DEFAULT_EVENT_DELIVERY, ...timings.events });
  // Every process forgets what a commit anywhere changed: keys, sessions, disabled tenants, rotated or removed channels,
  // and which tenants subscribe to events.
  const forget = (a: string) => {
    auth.forget(a);
    const [what, id] = a.split(':');
    if (what === 'channel' && id) channels.invalidate(id);
    if (what === 'tenant' && id) tenants.invalidate(id);
    if (what === 'events') void eventDelivery.refresh();
  };
  const onListening = () => {
    auth.clear();
    void eventDelivery.refresh();
  };
  const keyListener = new KeyListener(directUrl, { onAnnouncement: forget, onConnected: onListening }, log, bus);
  await keyListener.start();
  stops.add('key listener', () => keyListener.stop());
  // The tenant life cycle and data protection: the operator's audit log, and housekeeping, which
  // finishes tenant deletions and channel removals and applies retention, in batches.
  const audit = new AuditLog(db);
  const tenantLifecycle = new TenantLifecycle(db, provisioning, audit);
  const channelAdmin = new ChannelAdmin(db, config.secretKey, audit);
  // Inbound media files: under WAGATE_DATA_DIR, or in an S3-compatible bucket (docs/media.md).
  const mediaStore = overrides.mediaStore ?? (config.media.s3 ? new S3MediaStore({ ...config.media.s3 }) : new FileMediaStore(path.resolve(config.dataDir, 'media')));
  stops.add('media store', () => mediaStore.close());
  const housekeeping = new Housekeeping(db, log, { ...DEFAULT_HOUSEKEEPING, ...timings.housekeeping }, mediaStore);
  housekeeping.start();
  stops.add('housekeeping', () => housekeeping.stop());
  const metrics = createMetrics({ db, bus, log, tenantHistograms: config.metrics.tenantHistograms });
  stops.add('metrics', async () => metrics.stop());
  const hub = new EventHub(bus);
  stops.add('event hub', async () => hub.close());
  // Without a subscription anywhere it runs no statement; announcements (above) tell it of new ones.
  await eventDelivery.start();
  stops.add('event delivery', () => eventDelivery.stop());
  // Closed after the runner has drained (stops run in reverse order): webhooks answer 503 meanwhile.
  let http: FastifyInstance | null = null;
  stops.add('http server', async () => http?.close());
  const runnerOptions = { ...DEFAULT_RUNNER_OPTIONS, maxConversations: Math.max(100, config.maxInflight * 4), ...pacing };
  // Status webhooks and send results update outbound rows in batches: one at a time, so they never lock rows in different orders.
  const outboundRows = new Semaphore(1);

  // Sandbox: the simulator plays the Cloud API and posts statuses back through the signed webhook.
  let simulator = overrides.simulator ?? null;
  if (!simulator && config.sandbox) {
    const sim = await startCloudApiSimulator({
      webhookUrl: `http://127.0.0.1:${config.port}/webhooks/whatsapp`,
      appSecret: config.whatsappAppSecret!,
      statusDelaysMs: { sent: 50, delivered: 400, read: 1500 },
    });
    stops.add('simulator', () => sim.close());
    simulator = sim;
  }

  // The media lane: fetches, keeps and understands inbound media in its own bounded lane.
  const apiBase = simulator ? simulator.url + '/v25.0' : config.whatsappApiUrl;
  const laneDispatcher = createAgentDispatcher();
  const laneTenantDispatcher = createAgentDispatcher({ egress });
  const media = new MediaLane(db, bus, log, mediaStore, channels, tenants, {
    apiBase,
    spoolDir: path.resolve(config.dataDir, 'media-spool'),
    concurrency: config.media.concurrency,
    waitMs: config.media.waitMs,
    transcriptionModel: config.media.transcriptionModel,
    openai: { baseUrl: config.openai.baseUrl, apiKey: config.openai.apiKey },
    dispatcher: laneDispatcher,
    tenantDispatcher: laneTenantDispatcher,
    backoffMs: timings.mediaBackoffMs,
  });
  stops.add('media lane', async () => {
    await media.stop();
    await Promise.all([laneDispatcher.close(), laneTenantDispatcher.close()]);
  });

  // The message path: Cloud API, agents, the runner, and ingest feeding it.
  let runner: ConversationRunner | null = null;
  const cloudApi = createCloudApi(apiBase);
  stops.add('cloud api', () => cloudApi.close());
  // Media a tenant or its agent names by URL is the tenant's address: fetched under the egress policy.
  const mediaDispatcher = createEgressDispatcher(egress, { keepAliveTimeout: 10_000 });
  stops.add('media fetcher', () => mediaDispatcher.close());
  const templateSync = new TemplateSync(db, cloudApi, channels, log);
  if (overrides.answer !== false) {
    const agents = createAgentRegistry(config, { egress });
    stops.add('agents', () => agents.close());
    const pacer = new Pacer(timings.pacer);
    stops.add('pacer', async () => pacer.close());
    const max = config.maxInflight;
    const perTenant = Math.max(1, Math.ceil(max * (timings.perTenantShare ?? 0.5)));
    const limiter = new FairLimiter(max, perTenant, (count) => bus.emit('turn.inflight', { count }));
    // Tool calls reach tenant URLs through the egress policy; the demo tenant's through its own (above).
    const toolDispatcher = createAgentDispatcher({ egress });
    const demoToolDispatcher = demoTool ? createAgentDispatcher({ egress: demoTool.policy }) : null;
    stops.add('tool calls', () => Promise.all([toolDispatcher.close(), demoToolDispatcher?.close()]).then(() => undefined));
    const toolCaller = new ToolCaller(db, (tenantId) => (demoToolDispatcher && tenantId === demoTool?.tenantId ? demoToolDispatcher : toolDispatcher), bus);
    const turns = new TurnRunner(db, bus, log, lease, tenants, channels, agents, cloudApi, { agentBackoffMs: timings.agentBackoffMs, tools: toolCaller, mediaDispatcher, media });
    const delivery = new Delivery(db, bus, log, lease, channels, cloudApi, pacer, outboundRows, { retry: timings.retry });
    const started = new ConversationRunner(db, bus, log, lease, tenants, limiter, turns, delivery, processLock, runnerOptions);
    stops.add('runner', () => started.stop(config.shutdownGraceMs));
    const listener = new WorkListener(directUrl, lease.owner, (id) => started.onRemoteWork(id), log, bus);
    listener.start();
    stops.add('work listener', () => listener.stop());
    runner = started;
  }
  const ingest = new IngestQueue(db, {
    outboundRows,
    leaseOwner: lease.owner,
    leaseSeconds: lease.seconds,
    maxInFlight: ingestLaneSize(config.dbPoolMax),
    unroutable: new UnroutableReporter(bus, log),
    // The hand-off: what a statement committed goes to the runner, in this process, with no wait.
    onCommitted: (result) => {
      overrides.onIngested?.(result);
      media.onIngested(result);
      runner?.onIngested(result);
    },
    onHandOffError: (err) => log.error({ err }, 'handing ingested messages to the runner failed; the sweep will find them'),
  });
  const takeover = new Takeover(db, bus, runner);
  const rich = new RichSender(db, runner, channels, cloudApi, mediaDispatcher);

  // The demo account's templates, as the simulator serves them, synced once at start.
  if (demo && simulator) {
    simulator.setTemplates(SANDBOX_WABA_ID, DEMO_TEMPLATES, [SANDBOX_PHONE_NUMBER_ID]);
    const synced = await templateSync.syncChannel(demo.channelId);
    if (synced.error) log.warn({ error: synced.error }, 'syncing the demo templates failed');
  }

  // The HTTP server: webhooks, operator API, dashboard, metrics, sandbox page.
  const onRemoval = () => void housekeeping.kick().catch((err) => log.warn({ err }, 'housekeeping failed; it runs again later'));
  const server = await buildServer({
    config, log, db, bus, lifecycle, channels, provisioning, auth, apiKeys, sessions, audit, tenantLifecycle, channelAdmin, onRemoval,
    ingest, takeover, rich, templateSync, hub, metrics, simulator, eventSubscriptions, wakeEventDelivery: () => eventDelivery.wake(), mediaStore,
    tools: toolAdmin, demoToolSecret: demoTool?.secret ?? null,
  });
  http = server;
  let url = '';
  if (overrides.listen !== false) url = await server.listen({ port: config.port, host: config.host });
  else await server.ready();
  // The sweep starts once webhooks come in: a dead process's reply that may have gone out gets its
  // settle time (SEND_SETTLE_SECONDS) only from the moment its status webhook can reach this process.
  runner?.start();
  lifecycle.ready = true;

  let stopping: Promise<void> | null = null;
  return {
    config,
    log,
    url,
    http: server,
    databaseUrl,
    directUrl,
    db,
    bus,
    leaseOwner: lease.owner,
    provisioning,
    housekeeping,
    mediaStore,
    metrics,
    takeover,
    runner,
    sandbox: simulator ? { simulator, demo } : null,
    stop() {
      stopping ??= (async () => {
        lifecycle.accepting = false;
        await stops.run();
      })();
      return stopping;
    },
  };
}
