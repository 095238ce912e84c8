/**
 * Bounds the turns running at once: `max` across all tenants and `perTenant`
 * for each, granting waiting slots round-robin across tenants so that one
 * tenant's flood cannot starve the others. Waiters are the only memory it
 * holds; the work they stand for is already committed as rows.
 */
export class FairLimiter {
  private active = 0;
  private readonly perTenantActive = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();
  /** Tenants with waiters, in the order they will be served. */
  private readonly rotation: string[] = [];
  private waiters = 0;

  constructor(
    readonly max: number,
    readonly perTenant: number,
    private readonly onChange: (active: number) => void = () => {},
  ) {}

  get inflight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiters;
  }

  /** Resolves with a release function once a slot is free for this tenant. */
  acquire(tenantId: string): Promise<() => void> {
    if (this.canRun(tenantId) && !this.waiting.has(tenantId)) return Promise.resolve(this.grant(tenantId));
    return new Promise((resolve) => {
      let q = this.waiting.get(tenantId);
      if (!q) {
        q = [];
        this.waiting.set(tenantId, q);
        this.rotation.push(tenantId);
      }
      q.push(() => resolve(this.grant(tenantId)));
      this.waiters++;
    });
  }

  private canRun(tenantId: string): boolean {
    return this.active < this.max && (this.perTenantActive.get(tenantId) ?? 0) < this.perTenant;
  }

  private grant(tenantId: string): () => void {
    this.active++;
    this.perTenantActive.set(tenantId, (this.perTenantActive.get(tenantId) ?? 0) + 1);
    this.onChange(this.active);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      const n = (this.perTenantActive.get(tenantId) ?? 1) - 1;
      if (n === 0) this.perTenantActive.delete(tenantId);
      else this.perTenantActive.set(tenantId, n);
      this.onChange(this.active);
      this.dispatch();
    };
  }

  private dispatch(): void {
    let scanned = 0;
    while (this.active < this.max && this.rotation.length > 0 && scanned < this.rotation.length) {
      const tenantId = this.rotation.shift()!;
      const q = this.waiting.get(tenantId)!;
      if (this.canRun(tenantId)) {
        const next = q.shift()!;
        this.waiters--;
        if (q.length === 0) this.waiting.delete(tenantId);
        else this.rotation.push(tenantId);
        scanned = 0;
        next();
      } else {
        this.rotation.push(tenantId);
        scanned++;
      }
    }
  }
}
