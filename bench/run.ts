import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from '../src/db/embedded.ts';
import { migrate } from '../src/db/migrate.ts';
import { startCloudApiSimulator, type CloudApiSimulator } from '../src/sandbox/cloudApiSimulator.ts';
import { createDatabase, dropDatabase, provision } from './database.ts';
import type { PgBouncer } from './pgbouncer.ts';
import { startEventReceiver, subscribeAllTenants } from './eventReceiver.ts';
import { cpuMsOf, firstJsonLine, treeCpuMs, memoryOf, spawnChild, waitUntilReady, type Child } from './children.ts';
import { Load, type Customer, type LoadSnapshot } from './load.ts';
import { bucketDelta, bucketQuantile, histogramBuckets, parsePrometheus, sumOf, type Sample } from './prometheus.ts';
import { SoakSampler, type SoakSample } from './soak.ts';

/** Which pipeline a run drives. */
export type PipelineName = 'wagate' | 'baseline';

/** One run's settings. */
export interface RunSpec {
  pipeline: PipelineName;
  modelLatencyMs: number;
  /** wagate processes sharing the database (the baseline always has one). */
  processes: number;
  tenants: number;
  conversations: number;
  /** Per customer; 0: until the run's time is up. */
  messages: number;
  warmupS: number;
  durationS: number;
  /** Longest wait, after the time is up, for the answers still owed. */
  drainS: number;
  /** DB_POOL_MAX of each wagate process; null: the gateway's default. */
  dbPoolMax: number | null;
  /** Share of messages that are voice notes (wagate only; the baseline has no media). */
  mediaShare: number;
  /** Folder for a CPU profile of each wagate process; null: no profile. */
  cpuProfileDir: string | null;
  /** Seconds between soak samples of the wagate processes; 0: none. */
  sampleEveryS: number;
  /** wagate's pool through the environment's PgBouncer (transaction mode); null: straight to the server. */
  pooler: 'pgbouncer' | null;
  /** wagate only: every tenant subscribes one event receiver (a local HTTP server) to every event. */
  events?: boolean;
}

/** One row of the report's JSON (docs/performance.md), and what the markdown adds beside it. */
export interface RunResult {
  pipeline: PipelineName;
  modelLatencyMs: number;
  processes: number;
  /** Present when wagate's pool went through PgBouncer in transaction mode. */
  pooler?: 'pgbouncer';
  /** Answers received in the measured window. */
  messages: number;
  messagesPerSecond: number;
  ackMs: { p50: number | null; p99: number | null };
  overheadMs: { p50: number | null; p99: number | null };
  endToEndMs: { p50: number | null; p99: number | null };
  /** With --media only: the share of the messages that were voice notes. */
  mediaShare?: number;
  /** With --media only: the end-to-end times of the text messages' answers alone. */
  textEndToEndMs?: { p50: number | null; p99: number | null };
  dbRoundTripsPerMessage: number | null;
  connectionsOpenedPerMessage: number | null;
  peakRssMb: number | null;
  /** Present on a run with one event receiver subscribed to every event of every tenant. */
  events?: true;
}

/** What the markdown shows beside the JSON figures. */
export interface RunDetails {
  sent: number;
  unanswered: number;
  rejected: number;
  unmatched: number;
  statusesPosted: number;
  /** Round trips per answered message and their mean time, by statement name (wagate only). */
  statements: Record<string, { perMessage: number; meanMs: number }>;
  rssMbAtStart: number | null;
  rssMbAtEnd: number | null;
  /** CPU time the pipeline's processes used per answered message, ms (user + system). */
  cpuMsPerMessage: number | null;
  /** CPU time PostgreSQL used per answered message, ms (embedded server only). */
  postgresCpuMsPerMessage: number | null;
  /** CPU time PgBouncer used per answered message, ms (runs through it only). */
  poolerCpuMsPerMessage?: number | null;
  /** CPU time the benchmark's own process (customers and fake Cloud API) used per answered message, ms. */
  loadCpuMsPerMessage: number | null;
  /** The gateway's event-loop delay p99 at the end, ms (wagate only). */
  eventLoopLagP99Ms: number | null;
  /** The pipeline's own measure of its acknowledgements (handler entry to answer, status 200), statuses included. */
  serverAckMs: { p50: number | null; p99: number | null };
  /** Mean milliseconds of a turn's parts in the measured window, from the pipeline's own histograms. */
  turnMeansMs: { queue: number | null; agent: number | null; send: number | null; total: number | null };
  /** Readings every --sample-every seconds of the window (wagate only; empty without it). */
  samples: SoakSample[];
  /** Events the receiver got per answered message, the drain included (runs with events only). */
  eventsPerMessage?: number;
}

/** Where a run happens: the PostgreSQL server on which each run gets a fresh database. */
export interface RunEnvironment {
  serverUrl: string;
  /** The PostgreSQL server's main process when the benchmark started it (its CPU is measured), else null. */
  postgresPid: number | null;
  /** Called about once a second with a progress line. */
  progress: (line: string) => void;
  /** PgBouncer in front of the server (--pgbouncer), for the runs whose spec asks for it. */
  pgbouncer?: PgBouncer | null;
}

const ADMIN_KEY = 'bench-admin-key-' + randomBytes(8).toString('hex');
const APP_SECRET = 'bench-app-secret-' + randomBytes(8).toString('hex');
const SECRET_KEY_HEX = randomBytes(32).toString('hex');

interface Target {
  url: string;
  child: Child;
  /** Prometheus text of the process (wagate with the admin key; the baseline's own). */
  scrape(): Promise<Sample[]>;
}

/** Runs one pipeline under load and measures it. Everything it starts, it stops. */
export async function runOnce(env: RunEnvironment, spec: RunSpec): Promise<{ result: RunResult; details: RunDetails }> {
  const label = `${spec.pipeline}${spec.events ? ' with events' : ''}, model ${spec.modelLatencyMs} ms${spec.processes > 1 ? `, ${spec.processes} processes` : ''}${spec.pooler ? ', through PgBouncer' : ''}`;
  if (spec.pooler && !env.pgbouncer) throw new Error('a run through PgBouncer needs the environment\'s PgBouncer');
  const dbUrl = await createDatabase(env.serverUrl, `bench_${spec.pipeline}_${randomBytes(4).toString('hex')}`);
  const cleanup: (() => Promise<unknown>)[] = [() => dropDatabase(env.serverUrl, dbUrl)];
  try {
    await migrate(dbUrl);
    const channels = await provision(dbUrl, spec.tenants, Buffer.from(SECRET_KEY_HEX, 'hex'));
    const tokens = new Map(channels.map((c) => [c.phoneNumberId, c.accessToken]));
    const receiver = spec.events ? await startEventReceiver() : null;
    if (receiver) {
      cleanup.unshift(() => receiver.close());
      await subscribeAllTenants(dbUrl, Buffer.from(SECRET_KEY_HEX, 'hex'), receiver.url, receiver.host);
    }

    const media = spec.pipeline === 'wagate' ? spec.mediaShare : 0;
    // Voice notes are transcribed by the fake model in 500 ms, a short real transcription's time.
    const model = spawnChild('fake model', 'bench/fakeModel.main.ts', ['--latency-ms', String(spec.modelLatencyMs), ...(media > 0 ? ['--transcription-latency-ms', '500'] : [])]);
    cleanup.unshift(() => model.stop());
    const { openaiBaseUrl } = await firstJsonLine<{ openaiBaseUrl: string }>(model);

    const processes = spec.pipeline === 'baseline' ? 1 : spec.processes;
    const ports = await Promise.all(Array.from({ length: processes }, () => freePort()));
    const simulators: CloudApiSimulator[] = [];
    for (const port of ports) {
      const sim = await startCloudApiSimulator({ webhookUrl: `http://127.0.0.1:${port}/webhooks/whatsapp`, appSecret: APP_SECRET, tokens, maxRecorded: 1 });
      cleanup.unshift(() => sim.close());
      simulators.push(sim);
    }
    const targets: Target[] = [];
    for (let i = 0; i < processes; i++) {
      const t = spec.pipeline === 'wagate'
        ? await startWagate(ports[i], dbUrl, spec.pooler ? env.pgbouncer!.through(dbUrl) : null, simulators[i].url, openaiBaseUrl, spec, receiver?.host ?? null, media > 0 ? await mediaDir(cleanup) : null)
        : await startBaselineChild(ports[i], dbUrl, simulators[i].url, openaiBaseUrl);
      cleanup.unshift(() => t.child.stop());
      targets.push(t);
    }

    const customers: Customer[] = Array.from({ length: spec.conversations }, (_, i) => ({
      phoneNumberId: channels[i % channels.length].phoneNumberId,
      waId: String(100_000_000_000 + i),
    }));
    const load = new Load({ targets: targets.map((t) => t.url), simulators, appSecret: APP_SECRET, customers, messagesPerCustomer: spec.messages, mediaShare: media });
    cleanup.unshift(() => load.close());

    const started = performance.now();
    const ticker = setInterval(() => {
      void progressLine(label, started, load.snapshot(), targets).then(env.progress);
    }, 1_000);
    cleanup.unshift(async () => clearInterval(ticker));
    load.start();

    await sleep(spec.warmupS * 1000);
    // The window starts with nothing in flight, as it ends (drain): a message whose work
    // straddled the first reading would have part of its statements counted, or all of
    // them without its answer (a busy machine widens the gap between the readings and
    // the start of counting answers). The customers wait meanwhile; their answers'
    // statuses arrive, as after the drain below.
    const resume = await load.quiesce(spec.drainS * 1000);
    await sleep(500);
    const before = await Promise.all(targets.map((t) => t.scrape()));
    const memStart = await memorySum(targets);
    const cpuStart = await cpuSum(targets);
    const loadCpuStart = process.cpuUsage();
    const eventsStart = receiver?.received() ?? 0;
    const pgCpuStart = env.postgresPid ? await treeCpuMs(env.postgresPid) : null;
    const poolerPid = spec.pooler ? (env.pgbouncer?.pid ?? null) : null;
    const poolerCpuStart = poolerPid ? await cpuMsOf(poolerPid) : null;
    load.beginMeasuring();
    resume();
    const windowStart = performance.now();
    const sampler = spec.sampleEveryS > 0 && spec.pipeline === 'wagate'
      ? new SoakSampler({ scrape: () => Promise.all(targets.map((t) => t.scrape())), rssMb: async () => (await memorySum(targets))?.rssMb ?? null, answered: () => load.snapshot().answeredMeasured }, spec.sampleEveryS)
      : null;
    sampler?.start();
    await sleep(spec.durationS * 1000);
    const windowEnd = performance.now();
    const samples = (await sampler?.stop()) ?? [];
    const inWindow = load.snapshot().answeredMeasured;
    await load.drain(spec.drainS * 1000);
    // The last answers' statuses are part of the load: let them arrive before counting.
    await sleep(500);
    clearInterval(ticker);
    const after = await Promise.all(targets.map((t) => t.scrape()));
    const memEnd = await memorySum(targets);
    const cpuEnd = await cpuSum(targets);
    const loadCpu = process.cpuUsage(loadCpuStart);
    const pgCpuEnd = env.postgresPid ? await treeCpuMs(env.postgresPid) : null;
    const poolerCpuEnd = poolerPid ? await cpuMsOf(poolerPid) : null;
    const snap = load.snapshot();
    const eventsReceived = (receiver?.received() ?? 0) - eventsStart;

    const delta = (name: string) => sum(after, name) - sum(before, name);
    const meanMs = (histogram: string) => {
      const n = delta(`${histogram}_count`);
      return n > 0 ? round((delta(`${histogram}_sum`) / n) * 1000) : null;
    };
    const answered = snap.answeredMeasured;
    const overhead = mergedDelta(before, after, 'wagate_turn_overhead_seconds');
    const ack = mergedDelta(before, after, 'wagate_webhook_ack_seconds', { status: '200' });
    const statements: Record<string, { perMessage: number; meanMs: number }> = {};
    if (answered > 0) {
      const names = new Set(after.flat().filter((s) => s.name === 'wagate_db_statement_seconds_count').map((s) => s.labels.statement));
      for (const statement of names) {
        const of = (samples: Sample[][], name: string) => samples.reduce((n, p) => n + sumOf(p, name, { statement }), 0);
        const count = of(after, 'wagate_db_statement_seconds_count') - of(before, 'wagate_db_statement_seconds_count');
        const seconds = of(after, 'wagate_db_statement_seconds_sum') - of(before, 'wagate_db_statement_seconds_sum');
        if (count > 0) statements[statement] = { perMessage: round(count / answered), meanMs: round((seconds / count) * 1000) };
      }
    }
    const ms = (v: number | null) => (v === null ? null : round(v * 1000));
    const result: RunResult = {
      pipeline: spec.pipeline,
      modelLatencyMs: spec.modelLatencyMs,
      processes,
      ...(spec.pooler ? { pooler: spec.pooler } : {}),
      messages: inWindow,
      messagesPerSecond: round(inWindow / ((windowEnd - windowStart) / 1000)),
      ackMs: { p50: snap.ackMs.p50, p99: snap.ackMs.p99 },
      overheadMs: { p50: ms(bucketQuantile(overhead, 0.5)), p99: ms(bucketQuantile(overhead, 0.99)) },
      endToEndMs: { p50: snap.endToEndMs.p50, p99: snap.endToEndMs.p99 },
      ...(spec.mediaShare > 0 ? { mediaShare: media, textEndToEndMs: { p50: snap.textEndToEndMs.p50, p99: snap.textEndToEndMs.p99 } } : {}),
      dbRoundTripsPerMessage: answered > 0 ? round(delta('wagate_db_round_trips_total') / answered) : null,
      connectionsOpenedPerMessage: answered > 0 ? round(delta('wagate_db_connections_opened_total') / answered) : null,
      peakRssMb: memEnd ? round(memEnd.peakMb) : null,
      ...(spec.events ? { events: true as const } : {}),
    };
    const details: RunDetails = {
      sent: snap.sent,
      unanswered: snap.abandoned,
      rejected: snap.rejected + snap.failed,
      unmatched: snap.unmatched,
      statusesPosted: simulators.reduce((n, s) => n + s.stats().statusesPosted, 0),
      statements,
      rssMbAtStart: memStart ? round(memStart.rssMb) : null,
      rssMbAtEnd: memEnd ? round(memEnd.rssMb) : null,
      cpuMsPerMessage: cpuStart !== null && cpuEnd !== null && answered > 0 ? round((cpuEnd - cpuStart) / answered) : null,
      postgresCpuMsPerMessage: pgCpuStart !== null && pgCpuEnd !== null && answered > 0 ? round((pgCpuEnd - pgCpuStart) / answered) : null,
      ...(spec.pooler ? { poolerCpuMsPerMessage: poolerCpuStart !== null && poolerCpuEnd !== null && answered > 0 ? round((poolerCpuEnd - poolerCpuStart) / answered) : null } : {}),
      loadCpuMsPerMessage: answered > 0 ? round((loadCpu.user + loadCpu.system) / 1000 / answered) : null,
      eventLoopLagP99Ms: spec.pipeline === 'wagate' ? round((Math.max(...after.map((s) => sumOf(s, 'nodejs_eventloop_lag_p99_seconds'))) || 0) * 1000) : null,
      serverAckMs: { p50: ms(bucketQuantile(ack, 0.5)), p99: ms(bucketQuantile(ack, 0.99)) },
      turnMeansMs: {
        queue: meanMs('wagate_turn_queue_wait_seconds'),
        agent: meanMs('wagate_turn_agent_seconds'),
        send: meanMs('wagate_turn_send_seconds'),
        total: meanMs('wagate_turn_seconds'),
      },
      samples,
      ...(receiver && answered > 0 ? { eventsPerMessage: round(eventsReceived / answered) } : {}),
    };
    return { result, details };
  } finally {
    for (const fn of cleanup) await fn().catch(() => {});
  }
}

/** A data folder for a run's media files, removed with the run. */
async function mediaDir(cleanup: (() => Promise<unknown>)[]): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wagate-bench-media-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** One wagate process; with `pooledUrl`, its pool goes there (a transaction-mode pooler) and the rest straight to `dbUrl`. */
async function startWagate(port: number, dbUrl: string, pooledUrl: string | null, cloudUrl: string, openaiBaseUrl: string, spec: RunSpec, eventReceiverHost: string | null, dataDir: string | null): Promise<Target> {
  const child = spawnChild('wagate', 'bin/wagate.mjs', ['start'], {
    nodeArgs: spec.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${spec.cpuProfileDir}`] : [],
    env: {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: pooledUrl ?? dbUrl,
      ...(pooledUrl ? { DATABASE_DIRECT_URL: dbUrl, DATABASE_PREPARED_STATEMENTS: 'false' } : {}),
      WHATSAPP_API_URL: `${cloudUrl}/v25.0`,
      WHATSAPP_APP_SECRET: APP_SECRET,
      WHATSAPP_VERIFY_TOKEN: 'bench-verify-token',
      WAGATE_ADMIN_KEY: ADMIN_KEY,
      WAGATE_SECRET_KEY: SECRET_KEY_HEX,
      OPENAI_BASE_URL: openaiBaseUrl,
      OPENAI_API_KEY: 'sk-bench',
      OPENAI_MODEL: 'bench-model',
      LOG_LEVEL: 'warn',
      ...(spec.dbPoolMax !== null ? { DB_POOL_MAX: String(spec.dbPoolMax) } : {}),
      // The receiver is on loopback: the operator allows it, as a test deployment would.
      ...(eventReceiverHost ? { WAGATE_EGRESS_ALLOW: eventReceiverHost } : {}),
      ...(dataDir ? { WAGATE_DATA_DIR: dataDir, OPENAI_TRANSCRIPTION_MODEL: 'bench-transcribe' } : {}),
    },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntilReady(child, `${url}/readyz`);
  return { url, child, scrape: () => scrape(`${url}/metrics`, ADMIN_KEY) };
}

async function startBaselineChild(port: number, dbUrl: string, cloudUrl: string, openaiBaseUrl: string): Promise<Target> {
  const child = spawnChild('baseline', 'bench/baseline/main.ts', [
    '--port', String(port),
    '--database-url', dbUrl,
    '--whatsapp-api-url', `${cloudUrl}/v25.0`,
    '--model-base-url', openaiBaseUrl,
    '--model-api-key', 'sk-bench',
    '--model', 'bench-model',
    '--app-secret', APP_SECRET,
    '--secret-key', SECRET_KEY_HEX,
  ]);
  const { url } = await firstJsonLine<{ url: string }>(child);
  return { url, child, scrape: () => scrape(`${url}/metrics`, null) };
}

async function scrape(url: string, key: string | null): Promise<Sample[]> {
  const res = await fetch(url, { headers: key ? { authorization: `Bearer ${key}` } : {}, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${text.slice(0, 200)}`);
  return parsePrometheus(text);
}

function sum(perProcess: Sample[][], name: string): number {
  return perProcess.reduce((n, s) => n + sumOf(s, name), 0);
}

function mergedDelta(before: Sample[][], after: Sample[][], name: string, where: Record<string, string> = {}) {
  return bucketDelta(histogramBuckets(after.flat(), name, where), histogramBuckets(before.flat(), name, where));
}

async function memorySum(targets: Target[]): Promise<{ rssMb: number; peakMb: number } | null> {
  const all = await Promise.all(targets.map((t) => memoryOf(t.child.pid)));
  let rssMb = 0;
  let peakMb = 0;
  for (const m of all) {
    if (!m) return null;
    rssMb += m.rssMb;
    peakMb += m.peakMb;
  }
  return { rssMb, peakMb };
}

async function cpuSum(targets: Target[]): Promise<number | null> {
  let total = 0;
  for (const t of targets) {
    const ms = await cpuMsOf(t.child.pid);
    if (ms === null) return null;
    total += ms;
  }
  return total;
}

async function progressLine(label: string, started: number, s: LoadSnapshot, targets: Target[]): Promise<string> {
  const secs = (performance.now() - started) / 1000;
  const mem = await memorySum(targets);
  return `[${label}] ${secs.toFixed(0)} s  sent ${s.sent}  answered ${s.answered}  waiting ${s.waiting}` +
    (s.rejected + s.failed ? `  refused ${s.rejected + s.failed}` : '') +
    (mem ? `  rss ${mem.rssMb.toFixed(0)} MB` : '');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (v: number) => Math.round(v * 100) / 100;
