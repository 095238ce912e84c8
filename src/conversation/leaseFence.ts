/**
 * Whether this process's liveness lock is held (src/db/processLock.ts): the
 * other processes treat its leases as theirs to take while it is not.
 */
export interface Liveness {
  readonly held: boolean;
  /** Calls `listener` each time the lock is lost or taken again; returns the unsubscribe. */
  onChange(listener: (held: boolean) => void): () => void;
}

/**
 * Whether this process may act on its leases now (docs/architecture.md,
 * "Leases of a killed process"). Closed from the moment its liveness lock is
 * lost until the lock is taken again and a renewal has told which leases are
 * still its own: meanwhile no turn starts, no send starts, no lease is
 * renewed or swept. Statements already on their way stay safe, as every
 * write is conditioned on the lease owner.
 */
export class LeaseFence {
  private isOpen: boolean;
  private waiters: (() => void)[] = [];

  constructor(open: boolean) {
    this.isOpen = open;
  }

  get open(): boolean {
    return this.isOpen;
  }

  close(): void {
    this.isOpen = false;
  }

  reopen(): void {
    this.isOpen = true;
    this.wakeAll();
  }

  /** Resolves once the fence is open (at once when it is), or at `wakeAll` (shutdown). */
  whenOpen(): Promise<void> {
    if (this.isOpen) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Wakes every waiter, open or not: they look again (at shutdown, to leave). */
  wakeAll(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve();
  }
}
