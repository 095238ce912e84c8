/** At most `permits` holders at once; the rest wait in order. */
export class Semaphore {
  private readonly waiters: (() => void)[] = [];
  constructor(private permits: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.permits > 0) this.permits--;
    else await new Promise<void>((resolve) => this.waiters.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.permits++;
    }
  }
}
