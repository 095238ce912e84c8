import { randomInt } from 'node:crypto';
import type { CloudApiSimulator } from '../../src/sandbox/cloudApiSimulator.ts';
import { messagesValue, notification, postWebhook, textMessage } from '../support/webhooks.ts';

/** A customer number no other test uses (15 digits, like a wa_id). */
export function newWaId(): string {
  return '1555' + String(randomInt(0, 1e11)).padStart(11, '0');
}

/**
 * Customers writing to one channel through the signed webhook, as Meta
 * delivers them. `say` resolves once the gateway acknowledged (200) and
 * throws on anything else.
 */
export class Customers {
  constructor(
    private readonly baseUrl: string,
    private readonly phoneNumberId: string,
  ) {}

  /** One text message; returns its wamid. `extra` overrides message fields (timestamp …). */
  async say(waId: string, text: string, extra: Record<string, unknown> = {}): Promise<string> {
    const m = textMessage(waId, text, extra);
    await this.post(notification({ value: messagesValue(this.phoneNumberId, [m]) }));
    return m.id as string;
  }

  /** Any notification body; throws unless acknowledged with 200. */
  async post(body: unknown, baseUrl = this.baseUrl): Promise<void> {
    const res = await postWebhook(baseUrl, body);
    if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${res.text}`);
  }
}

/** One text the Cloud API simulator accepted. */
export interface AcceptedSend {
  to: string;
  body: string;
  /** Our outbound message id, from biz_opaque_callback_data (`wg:<id>`). */
  messageId: string | null;
  at: number;
}

/** Every text the simulator accepts from now on, by recipient, in order of acceptance. */
export class SendLog {
  readonly all: AcceptedSend[] = [];
  private readonly off: () => void;

  constructor(cloud: CloudApiSimulator) {
    this.off = cloud.on('send', (e) => {
      const cb = e.callbackData;
      this.all.push({ to: e.to ?? e.recipient ?? '', body: e.body, messageId: cb?.startsWith('wg:') ? cb.slice(3) : null, at: Date.now() });
    });
  }

  /** The bodies sent to one customer, in order. */
  to(waId: string): string[] {
    return this.all.filter((s) => s.to === waId).map((s) => s.body);
  }

  /** Sends per recipient. */
  byRecipient(): Map<string, AcceptedSend[]> {
    const out = new Map<string, AcceptedSend[]>();
    for (const s of this.all) {
      const list = out.get(s.to) ?? [];
      list.push(s);
      out.set(s.to, list);
    }
    return out;
  }

  stop(): void {
    this.off();
  }
}

/** Waits `ms`: only where a test must show that something does NOT happen. */
export const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
