import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDb } from '../src/db/db.ts';
import { EventSubscriptions } from '../src/events/subscriptions.ts';
import { EgressPolicy, parseEgressAllow } from '../src/shared/egress.ts';

/** The secret the benchmark's subscriptions sign with. */
const SECRET = 'bench-event-secret-0123456789';

/**
 * An event receiver for the benchmark: a local HTTP server that answers 204
 * to every POST and counts them, as a tenant's CRM or n8n flow would be
 * (minus its work).
 */
export async function startEventReceiver(): Promise<{ url: string; host: string; received: () => number; close: () => Promise<void> }> {
  let received = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `http://${host}/events`,
    host,
    received: () => received,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** Subscribes `url` to every event of every tenant of the run's database, through the same code as the API. */
export async function subscribeAllTenants(dbUrl: string, secretKey: Buffer, url: string, host: string): Promise<void> {
  const db = createDb({ connectionString: dbUrl, max: 2 });
  try {
    const subscriptions = new EventSubscriptions(db, secretKey, new EgressPolicy({ allow: parseEgressAllow(host) }));
    const tenants = await db.query<{ id: string }>({ name: 'bench_tenants', text: 'SELECT id::text AS id FROM tenants ORDER BY id' });
    for (const t of tenants) await subscriptions.create(t.id, { url, secret: SECRET, events: ['*'] });
  } finally {
    await db.close();
  }
}
