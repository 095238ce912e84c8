/**
 * Natural batching: at most `maxInFlight` batches (of each key) run at once; what arrives
 * while they run waits and goes out together in the next one. An idle batcher
 * adds no wait at all (the first item runs alone at once); under load, one
 * statement carries many items, so the database commits once for all of them.
 *
 * A batch holds at most `maxBatch` weight (each item weighs 1 unless `weight`
 * says otherwise; an item heavier than that still goes, alone).
 * Items with different `key`s never share a batch. After a batch, `rest`
 * may keep its key's slot taken a while longer (the items already settled):
 * a key can so be held to a share of the time. `run` settles each item on
 * its own (one item's failure need not fail the others); if it throws, every
 * item of the batch fails with that error.
 */
export class Batcher<I, O> {
  private readonly queue: { item: I; key: string; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  private readonly inFlight = new Map<string, number>();

  constructor(
    private readonly run: (items: I[], key: string) => Promise<PromiseSettledResult<O>[]>,
    private readonly maxInFlight: number | ((key: string) => number),
    private readonly maxBatch: number | ((key: string) => number),
    private readonly weight: (item: I) => number = () => 1,
    private readonly rest: (key: string, ranMs: number) => number = () => 0,
  ) {}

  private limit(key: string): number {
    return typeof this.maxInFlight === 'number' ? this.maxInFlight : this.maxInFlight(key);
  }

  submit(item: I, key = ''): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, key, resolve, reject });
      this.pump();
    });
  }

  /** Items waiting for a batch. */
  get waiting(): number {
    return this.queue.length;
  }

  private pump(): void {
    for (let i = 0; i < this.queue.length; ) {
      const key = this.queue[i].key;
      const running = this.inFlight.get(key) ?? 0;
      if (running >= this.limit(key)) {
        i++;
        continue;
      }
      // Everything of this key that waits goes together, in arrival order.
      const batch: typeof this.queue = [];
      const maxBatch = typeof this.maxBatch === 'number' ? this.maxBatch : this.maxBatch(key);
      let weight = 0;
      for (let j = i; j < this.queue.length && weight < maxBatch; ) {
        const next = this.queue[j];
        if (next.key !== key) {
          j++;
          continue;
        }
        const w = this.weight(next.item);
        if (batch.length > 0 && weight + w > maxBatch) break;
        batch.push(...this.queue.splice(j, 1));
        weight += w;
      }
      this.inFlight.set(key, running + 1);
      const started = performance.now();
      this.run(
        batch.map((b) => b.item),
        key,
      )
        .then(
          (outs) =>
            batch.forEach((b, i) => {
              const o = outs[i];
              if (!o) b.reject(new Error('the batch returned no result for this item'));
              else if (o.status === 'fulfilled') b.resolve(o.value);
              else b.reject(o.reason);
            }),
          (err) => batch.forEach((b) => b.reject(err)),
        )
        .catch(() => {})
        .finally(() => {
          const free = () => {
            const n = (this.inFlight.get(key) ?? 1) - 1;
            if (n === 0) this.inFlight.delete(key);
            else this.inFlight.set(key, n);
            this.pump();
          };
          const restMs = this.rest(key, performance.now() - started);
          if (restMs > 0) setTimeout(free, restMs).unref();
          else free();
        });
    }
  }
}
