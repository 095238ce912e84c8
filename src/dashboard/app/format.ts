import type { Conversation, Message } from './api.ts';

/** "14:05" today, "Mon 14:05" this week, else "12 Mar". */
export function shortTime(iso: string, now = new Date()): string {
  const d = new Date(iso);
  const sameDay = d.toDateString() === now.toDateString();
  if (sameDay) return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (now.getTime() - d.getTime() < 6 * 86_400_000) return d.toLocaleString(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit' });
  return d.toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
}

/** The full date and time, for titles. */
export function fullTime(iso: string): string {
  return new Date(iso).toLocaleString();
}

/** Who a conversation is with: the profile name, else the number. */
export function contactName(c: Conversation): string {
  return c.contact.name?.trim() || (c.contact.waId ? '+' + c.contact.waId : c.contact.userId ?? 'unknown');
}

export function contactNumber(c: Conversation): string {
  return c.contact.waId ? '+' + c.contact.waId : c.contact.userId ?? '';
}

/** The text form of a message: its text, or what kind of message it is. */
export function messageText(m: Message): string {
  if (m.text) return m.text;
  if (m.media?.filename) return m.media.filename;
  return `[${m.type}]`;
}

/** A short label of a media message ("document · invoice.pdf · application/pdf"). */
export function mediaLabel(m: Message): string | null {
  if (!m.media) return null;
  return [m.type, m.media.filename, m.media.mimeType].filter(Boolean).join(' · ');
}

/** Why the bot answered or did not: the dashboard's answer to "why no reply?". */
export const DISPOSITION_TEXT: Record<string, { label: string; tone: 'ok' | 'warn' | 'muted' | 'bad' }> = {
  answered: { label: 'Answered by the bot', tone: 'ok' },
  coalesced: { label: 'Answered together with the next message', tone: 'ok' },
  paused: { label: 'Not answered: the bot is paused for this conversation', tone: 'warn' },
  over_quota: { label: 'Not answered: the monthly message limit is reached', tone: 'bad' },
  no_answer_needed: { label: 'No answer needed', tone: 'muted' },
  window_closed: { label: 'Not answered: older than 24 hours (WhatsApp allows only templates)', tone: 'warn' },
  duplicate: { label: 'Duplicate delivery: ignored', tone: 'muted' },
  agent_failed: { label: 'Not answered: the agent failed (the fallback message was sent)', tone: 'bad' },
  send_failed: { label: 'The answer could not be sent', tone: 'bad' },
  unroutable: { label: 'Not answered: no channel for this number', tone: 'bad' },
  tenant_disabled: { label: 'Not answered: the operator disabled this tenant', tone: 'bad' },
};

export function dispositionText(m: Message): { label: string; tone: string } {
  if (m.disposition === null) return { label: 'Waiting for the bot…', tone: 'muted' };
  return DISPOSITION_TEXT[m.disposition] ?? { label: m.disposition, tone: 'muted' };
}

/** An outbound message's status as a person reads it. */
export function statusText(m: Message): string {
  switch (m.status) {
    case 'queued':
      return 'Sending…';
    case 'sent':
      return 'Sent ✓';
    case 'delivered':
      return 'Delivered ✓✓';
    case 'read':
      return 'Read ✓✓';
    case 'failed':
      return `Failed${m.error?.code ? ` (${m.error.code}${m.error.title ? ': ' + m.error.title : ''})` : ''}`;
    default:
      return m.status;
  }
}

export function authorLabel(m: Message): string {
  return m.author === 'customer' ? 'Customer' : m.author === 'agent' ? 'Bot' : 'Operator';
}

/** What went wrong, for an error line: the API's message, or the error's. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
