import type { Logger } from 'pino';
import { DirectConnection } from '../db/directConnection.ts';
import type { Bus } from '../shared/bus.ts';
import { KEYS_CHANNEL } from '../tenancy/apiKeys.sql.ts';

/**
 * One LISTEN connection per process on KEYS_CHANNEL: a key revoked or a
 * session ended by any process is dropped from this process's caches as soon
 * as the statement commits. While it is down, the caches' short lifetime
 * (AUTH_CACHE_MS) bounds how long a revoked key still works; after it
 * reconnects, the caches are cleared, since announcements may have been
 * missed.
 */
export class KeyListener {
  private readonly connection: DirectConnection;

  constructor(
    connectionString: string,
    handlers: { onAnnouncement: (payload: string) => void; onConnected: () => void },
    log: Logger,
    bus: Bus,
  ) {
    this.connection = new DirectConnection({
      connectionString,
      purpose: 'key listener (revoked keys stay cached up to a few seconds meanwhile)',
      setUp: async (client) => {
        await client.query(`LISTEN ${KEYS_CHANNEL}`);
      },
      onUp: handlers.onConnected,
      onNotification: (n) => {
        if (n.channel === KEYS_CHANNEL && n.payload) handlers.onAnnouncement(n.payload);
      },
      log,
      bus,
    });
  }

  /** Connects; resolves once the first attempt is done (listening, or retrying in the background). */
  start(): Promise<void> {
    return this.connection.start();
  }

  stop(): Promise<void> {
    return this.connection.stop();
  }
}
