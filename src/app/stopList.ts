import type { Logger } from 'pino';

/**
 * What must be closed when the gateway stops, in the order it was started:
 * `run` closes the newest first, so each part stops before the parts it
 * uses. A part that fails to close is logged and the rest still close.
 */
export class StopList {
  private readonly items: { name: string; stop: () => Promise<unknown> }[] = [];

  constructor(private readonly log: Logger) {}

  add(name: string, stop: () => Promise<unknown>): void {
    this.items.push({ name, stop });
  }

  async run(): Promise<void> {
    for (const { name, stop } of this.items.splice(0).reverse()) {
      await stop().catch((err: unknown) => this.log.error({ err, part: name }, 'stopping a part of the gateway failed'));
    }
  }
}
