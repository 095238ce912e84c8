import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDb } from '../src/db/db.ts';
import { EgressPolicy } from '../src/shared/egress.ts';
import { Provisioning } from '../src/tenancy/provision.ts';

/** Creates a database for one run and returns its URL. */
export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
  const u = new URL(serverUrl);
  u.pathname = '/' + name;
  return u.toString();
}

/** Drops a run's database, closing whatever is still connected to it. */
export async function dropDatabase(serverUrl: string, dbUrl: string): Promise<void> {
  const name = new URL(dbUrl).pathname.slice(1);
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await c.end();
  }
}

/** Tenants, each with one channel, created through the same code as the admin API. */
export async function provision(dbUrl: string, tenants: number, secretKey: Buffer): Promise<{ phoneNumberId: string; accessToken: string }[]> {
  const db = createDb({ connectionString: dbUrl, max: 2 });
  try {
    // The tenants choose no model: the model policy only shapes the views returned here.
    const p = new Provisioning(db, secretKey, 'openai', { defaultModel: 'gpt-4o-mini', allowedModels: [] }, new EgressPolicy());
    const out: { phoneNumberId: string; accessToken: string }[] = [];
    for (let i = 0; i < tenants; i++) {
      // The simulated customers write again the moment they have an answer, far above a person's
      // pace: the widest answer budget keeps it from pacing them (the benchmark measures the path).
      const t = await p.createTenant({ name: `Bench tenant ${i + 1}`, agent: { provider: 'openai', answerBudget: { answers: 100, perSeconds: 1 } } });
      const phoneNumberId = `10${String(i).padStart(10, '0')}`;
      const accessToken = `token-${phoneNumberId}-${randomBytes(6).toString('hex')}`;
      // 1,000 messages a second: an upgraded number, so pacing never limits the benchmark.
      await p.addChannel(t.id, { phoneNumberId, displayPhoneNumber: `+1 555 ${String(i).padStart(4, '0')}`, accessToken, messagesPerSecond: 1000 });
      out.push({ phoneNumberId, accessToken });
    }
    return out;
  } finally {
    await db.close();
  }
}
