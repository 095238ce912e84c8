/**
 * Natural batching: at most `maxInFlight` batches run at once; what arrives
 * while they run waits and goes out together in the next one. An idle batcher
 * adds no wait at all (the first item runs alone at once); under load, one
 * statement carries many items, so the database commits once for all of them.
 *
 * Items with different `key`s never share a batch. `run` settles each item on
 * its own (one item's failure need not fail the others); if it throws, every
 * item of the batch fails with that error.
 */
export class Batcher<I, O> {
  private readonly queue: { item: I; key: string; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  private inFlight = 0;

  constructor(
    private readonly run: (items: I[], key: string) => Promise<PromiseSettledResult<O>[]>,
    private readonly maxInFlight: number,
    private readonly maxBatch: number,
  ) {}

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
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const key = this.queue[0].key;
      let n = 1;
      while (n < this.queue.length && n < this.maxBatch && this.queue[n].key === key) n++;
      const batch = this.queue.splice(0, n);
      this.inFlight++;
      this.run(
        batch.map((b) => b.item),
        key,
      )
        .then(
          (outs) =>
            batch.forEach((b, i) => {
              const o = outs[i];
              if (o.status === 'fulfilled') b.resolve(o.value);
              else b.reject(o.reason);
            }),
          (err) => batch.forEach((b) => b.reject(err)),
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
  }
}
