import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A server URL (any database) on which test files create their own databases. */
    pgServerUrl: string;
    /** The migrated template each test file's database is copied from. */
    pgTemplate: string;
  }
}

/**
 * One PostgreSQL server for the whole run (embedded unless DATABASE_URL is
 * set), with a migrated template database; each test file copies it.
 */
export default async function setup(project: TestProject) {
  let server: EmbeddedServer | null = null;
  let dir: string | null = null;
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    dir = await mkdtemp(path.join(tmpdir(), 'wagate-test-pg-'));
    // The gateway's role (not a superuser), allowed to create the test files' databases.
    server = await startEmbeddedPostgres(dir, { createDatabases: true });
    serverUrl = server.url;
  }
  const template = `wagate_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${template}`);
  await admin.query(`CREATE DATABASE ${template}`);
  await admin.end();
  await migrate(withDatabase(serverUrl, template));
  project.provide('pgServerUrl', serverUrl);
  project.provide('pgTemplate', template);
  return async () => {
    if (server) await server.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  };
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = '/' + database;
  return u.toString();
}
