import type { Logger } from 'pino';
import type { Bus } from '../shared/bus.ts';

/** Distinct numbers remembered for the once-only log line; the metric counts them all. */
const REMEMBERED = 10_000;

/**
 * Reports a phone_number_id that no channel has: counted on the bus every
 * time, logged once per number (Meta keeps sending to a number that was
 * removed, and a log line each time would drown the rest).
 */
export class UnroutableReporter {
  private readonly seen = new Set<string>();

  constructor(
    private readonly bus: Bus,
    private readonly log: Logger,
  ) {}

  note(phoneNumberId: string): void {
    this.bus.emit('webhook.unroutable', { phoneNumberId });
    if (this.seen.size < REMEMBERED && !this.seen.has(phoneNumberId)) {
      this.seen.add(phoneNumberId);
      this.log.warn({ phoneNumberId }, 'notification for a phone_number_id that no channel has');
    }
  }
}
