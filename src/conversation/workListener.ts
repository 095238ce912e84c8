import type { Logger } from 'pino';
import { DirectConnection } from '../db/directConnection.ts';
import type { Bus } from '../shared/bus.ts';
import { WORK_CHANNEL } from '../shared/notifyChannels.ts';

/**
 * One LISTEN connection per process: tells the runner when another process
 * ingested messages for a conversation this process holds, so a running turn
 * can coalesce them at once instead of at its next statement. It only speeds
 * things up: if it is down, the sequence check at the reply commit and the
 * sweep still find the work.
 */
export class WorkListener {
  private readonly connection: DirectConnection;

  constructor(connectionString: string, leaseOwner: string, onWork: (conversationId: string) => void, log: Logger, bus: Bus) {
    this.connection = new DirectConnection({
      connectionString,
      purpose: 'work listener',
      setUp: async (client) => {
        await client.query(`LISTEN ${WORK_CHANNEL}`);
      },
      onNotification: (n) => {
        const payload = n.payload ?? '';
        const i = payload.indexOf(':');
        if (i > 0 && payload.slice(0, i) === leaseOwner) onWork(payload.slice(i + 1));
      },
      failureLevel: 'debug',
      log,
      bus,
    });
  }

  start(): void {
    void this.connection.start();
  }

  stop(): Promise<void> {
    return this.connection.stop();
  }
}
