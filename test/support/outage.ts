import pg from 'pg';
import type { Gateway } from '../../src/app/gateway.ts';
import { startCloudApiSimulator, type CloudApiSimulator } from '../../src/sandbox/cloudApiSimulator.ts';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { newWaId, SendLog } from '../conversation/customers.ts';
import { freePort, startGatewayChild, type GatewayChild } from './crash.ts';
import { provisionTenant, TEST_APP_SECRET } from './gateway.ts';
import { eventually } from './pipeline.ts';
import { accountAnswers, SteadyCustomers, workLeft, type AnswerAccount } from './steadyLoad.ts';

/**
 * A gateway child under steady load from many customers, with the Cloud API
 * simulator posting each accepted send's signed `sent` status back (with
 * `biz_opaque_callback_data`) and retrying it while the gateway refuses, as
 * Meta does: the stage of the tests where the database fails under load.
 */
export interface LoadedGateway {
  child: GatewayChild;
  cloud: CloudApiSimulator;
  model: FakeModel;
  sends: SendLog;
  customers: SteadyCustomers;
  /** Every log line the child wrote. */
  log: string[];
  close(): Promise<void>;
}

export async function startLoadedGateway(opts: {
  /** DATABASE_URL; omitted, the child runs its embedded PostgreSQL in env.WAGATE_DATA_DIR. */
  dbUrl?: string;
  env: Record<string, string>;
  customers: number;
  pauseMs: number;
}): Promise<LoadedGateway> {
  const port = await freePort();
  const model = await startFakeModel({ latencyMs: 30 });
  const cloud = await startCloudApiSimulator({
    webhookUrl: `http://127.0.0.1:${port}/webhooks/whatsapp`,
    appSecret: TEST_APP_SECRET,
    statusDelaysMs: { sent: 0, delivered: null, read: null },
  });
  const sends = new SendLog(cloud);
  const child = await startGatewayChild({
    dbUrl: opts.dbUrl,
    whatsappApiUrl: cloud.url + '/v25.0',
    openaiBaseUrl: model.openaiBaseUrl,
    env: { PORT: String(port), LOG_LEVEL: 'warn', WAGATE_TEST_LEASE_SECONDS: '5', WAGATE_TEST_SWEEP_MS: '200', ...opts.env },
    startTimeoutMs: 90_000,
  });
  const log: string[] = [...child.tail];
  child.watch((line) => log.push(line));
  // An answer budget far above the customers' pace: each message gets its own answer unless it arrives during its predecessor's turn.
  const t = await provisionTenant({ url: child.url } as Gateway, { agent: { provider: 'openai', answerBudget: { answers: 100, perSeconds: 1 } } });
  const waIds = Array.from({ length: opts.customers }, () => newWaId());
  const customers = new SteadyCustomers(child.url, t.phoneNumberId, waIds, { pauseMs: opts.pauseMs, redeliverMs: 200 });
  return {
    child,
    cloud,
    model,
    sends,
    customers,
    log,
    async close() {
      sends.stop();
      // SIGTERM: the child stops its embedded PostgreSQL too (a SIGKILL would leave it running, orphaned).
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await child.exited;
      clearTimeout(timer);
      await cloud.close();
      await model.close();
    },
  };
}

/** Polls /readyz until stopped: when it first answered non-200 and when it answered 200 again after that. */
export function watchReadiness(url: string): { stop(): Promise<{ notReadyAt: number | null; readyAgainAt: number | null; changes: string[] }> } {
  let stopped = false;
  const changes: string[] = [];
  let last = -1;
  let notReadyAt: number | null = null;
  let readyAgainAt: number | null = null;
  const loop = (async () => {
    while (!stopped) {
      let status = 0;
      try {
        const res = await fetch(url + '/readyz', { signal: AbortSignal.timeout(5_000) });
        await res.arrayBuffer();
        status = res.status;
      } catch {
        status = 0;
      }
      const now = Date.now();
      if (status !== last) changes.push(`${status}@${now}`);
      last = status;
      if (status !== 200 && notReadyAt === null) notReadyAt = now;
      if (status === 200 && notReadyAt !== null && readyAgainAt === null) readyAgainAt = now;
      if (status !== 200) readyAgainAt = null;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { notReadyAt, readyAgainAt, changes };
    },
  };
}

/** Waits until the customers' acknowledged messages reach `n`. */
export async function untilAcked(customers: SteadyCustomers, n: number, timeoutMs: number): Promise<void> {
  await eventually(() => customers.acked.length >= n, timeoutMs, `${n} messages acknowledged`);
}

/** Stops the load and waits until every acknowledged message is settled and every reply sent; then accounts for them. */
export async function drainAndAccount(g: LoadedGateway, dbUrl: () => Promise<string>, timeoutMs: number): Promise<{ account: AnswerAccount; drainedAt: number }> {
  await g.customers.stop();
  const url = await dbUrl();
  await eventually(async () => (await workLeft(url)) === 0, timeoutMs, 'every acknowledged message settled and every reply sent');
  const drainedAt = Date.now();
  return { account: await accountAnswers(url, g.customers.acked, g.sends), drainedAt };
}

/** Connections of the gateway's role that are LISTENing now (its work and key listeners). */
export async function listeners(dbUrl: string): Promise<number> {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = current_user AND pid <> pg_backend_pid() AND query LIKE 'LISTEN %'`,
    );
    return rows[0].n;
  } finally {
    await c.end();
  }
}

/** The lines of figures a test prints, one per item. */
export function figures(title: string, items: Record<string, unknown>): string {
  return [`${title}:`, ...Object.entries(items).map(([k, v]) => `  ${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)].join('\n');
}

/** The child's log lines counted by message (pino's `msg`). */
export function logLines(lines: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of lines) {
    let msg: string;
    try {
      const m = (JSON.parse(l) as { msg?: unknown }).msg;
      if (m === undefined) continue; // the line on stdout that tells where the child listens
      msg = String(m).replace(/\d+ ms/, 'N ms');
    } catch {
      msg = l.slice(0, 80);
    }
    out[msg] = (out[msg] ?? 0) + 1;
  }
  return out;
}
