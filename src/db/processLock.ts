import type { Logger } from 'pino';
import type { Bus } from '../shared/bus.ts';
import { DirectConnection } from './directConnection.ts';

/**
 * Takes this process's advisory lock (waiting if the session that held it
 * before is still being ended) and registers the owner, in one statement.
 * Registered after the lock, so no one sees the row without the lock held;
 * taken again after a drop, locked_at moves on. $1 owner, $2 lock key.
 */
export const LOCK_AND_REGISTER = `
WITH l AS (SELECT pg_advisory_lock($2::bigint))
INSERT INTO gateway_processes (owner, lock_key) SELECT $1::uuid, $2::bigint FROM l
ON CONFLICT (owner) DO UPDATE SET locked_at = clock_timestamp()`;

/** Unregisters at shutdown: the leases left (a send still on its way) then run out by time, as before. */
const UNREGISTER = `DELETE FROM gateway_processes WHERE owner = $1::uuid`;

/** The advisory lock key of a lease owner: the uuid's first 64 bits, as a signed bigint (a string, for pg). */
export function lockKeyOf(owner: string): string {
  const hex = owner.replace(/-/g, '').slice(0, 16);
  if (!/^[0-9a-f]{16}$/i.test(hex)) throw new Error(`not a uuid: ${owner}`);
  return BigInt.asIntN(64, BigInt('0x' + hex)).toString();
}

/**
 * This process's proof of life to the others (docs/architecture.md, "Leases
 * of a killed process"): a session-level advisory lock held on a connection
 * of its own for the whole life of the process. SIGKILL ends the session, so
 * PostgreSQL releases the lock at once, and the others' sweeps take the dead
 * process's leases without waiting for them to run out. When the connection
 * drops while the process lives, `held` turns false until the lock is taken
 * again; the runner does nothing on its leases meanwhile.
 */
export class ProcessLock {
  private readonly connection: DirectConnection;
  private readonly listeners = new Set<(held: boolean) => void>();
  private isHeld = false;

  constructor(
    private readonly owner: string,
    connectionString: string,
    log: Logger,
    bus: Bus,
  ) {
    const key = lockKeyOf(owner);
    this.connection = new DirectConnection({
      connectionString,
      purpose: 'process lock',
      setUp: async (client) => {
        await client.query(LOCK_AND_REGISTER, [owner, key]);
      },
      onUp: () => this.set(true),
      onDown: () => this.set(false),
      // A dropped lock is taken again fast: within the grace the others give a missing lock.
      firstRetryMs: 50,
      log,
      bus,
    });
  }

  /** Takes the lock; resolves once the first attempt is done (held, or trying again in the background). */
  start(): Promise<void> {
    return this.connection.start();
  }

  /** Whether the lock is held now. */
  get held(): boolean {
    return this.isHeld;
  }

  /** Calls `listener` each time the lock is lost or taken again; returns the unsubscribe. */
  onChange(listener: (held: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private set(held: boolean): void {
    if (held === this.isHeld) return;
    this.isHeld = held;
    for (const l of this.listeners) l(held);
  }

  /** Shutdown (after the leases were given back): unregisters, then ends the session and with it the lock. */
  async stop(): Promise<void> {
    this.listeners.clear();
    await this.connection.query(UNREGISTER, [this.owner]).catch(() => {});
    await this.connection.stop();
    this.isHeld = false;
  }
}
