import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { withDatabase } from './globalSetup.ts';

/** A new database copied from the migrated template: a test file's own. */
export async function freshDatabase(): Promise<string> {
  const server = inject('pgServerUrl');
  const template = inject('pgTemplate');
  const name = `wagate_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  } finally {
    await admin.end();
  }
  return withDatabase(server, name);
}

/** A plain client for assertions, outside the gateway's pool and counters. */
export async function sqlClient(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return c;
}
