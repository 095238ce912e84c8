import { choiceOf } from './interactive.ts';
import type { AgentMessage } from './types.ts';

/** A stored message as the agent's input needs it (the fields of HistoryMessage and StoredMessage it reads). */
export interface MessageRow {
  direction: 'inbound' | 'outbound';
  author: 'customer' | 'agent' | 'operator';
  type: string;
  body: string | null;
  media: Record<string, unknown> | null;
  /** The tapped button or list row of an interactive or button message. */
  payload?: Record<string, unknown> | null;
}

/** The types shown as a bracketed label with the caption or detail after it. */
const LABELLED = new Set(['image', 'video', 'audio', 'document', 'sticker', 'location', 'contacts']);
/** The types that are plain text to the agent: their body is what the customer wrote or chose. */
const PLAIN = new Set(['text', 'interactive', 'button', 'template']);

const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() ? v.trim() : null);

/**
 * The text the agent sees for one stored message, or null when it carries
 * nothing for the agent to answer or remember:
 * - a tapped reply button, list row or template quick-reply button:
 *   `[choice <id>] <title>`, the id being the one the agent (or template) gave;
 * - text, templates and the agent's own interactive messages: the text itself;
 * - media: `[image] caption`, `[video] caption`, `[audio]`, `[sticker]`,
 *   `[document report.pdf] caption` (the label alone without caption or file name);
 * - `[location] name, address` and `[contacts] names`, as ingest stored them;
 * - reaction, order, system, unsupported and unknown types: null. A reaction
 *   is an emoji on another message, an order goes to the business's own
 *   systems, a system message is WhatsApp's own notice, and an unsupported
 *   message has no content: none is something a chat agent can act on.
 */
export function textFormOf(row: Pick<MessageRow, 'type' | 'body' | 'media' | 'payload'>): string | null {
  const body = str(row.body);
  const choice = choiceOf(row.type, row.payload);
  if (choice) return `[choice ${choice.id}] ${choice.title || body || ''}`.trim();
  if (PLAIN.has(row.type)) return body;
  if (!LABELLED.has(row.type)) return null;
  const filename = row.type === 'document' ? str(row.media?.filename) : null;
  const label = filename ? `[document ${filename}]` : `[${row.type}]`;
  // Ingest keeps a caption both as the body and in media; the body is the one operators may edit.
  const detail = body ?? str(row.media?.caption);
  return detail ? `${label} ${detail}` : label;
}

/** One stored message as an AgentMessage (customer → user; agent and operator → assistant), or null to skip it. */
export function toAgentMessage(row: MessageRow): AgentMessage | null {
  const content = textFormOf(row);
  if (content === null) return null;
  return { role: row.direction === 'inbound' && row.author === 'customer' ? 'user' : 'assistant', content };
}

/** Stored messages, oldest first, as the agent's history: the messages that carry nothing are left out. */
export function toAgentMessages(rows: readonly MessageRow[]): AgentMessage[] {
  const out: AgentMessage[] = [];
  for (const row of rows) {
    const m = toAgentMessage(row);
    if (m) out.push(m);
  }
  return out;
}

/** What a text form holds: the media kind (null for plain text) and the text after the label. */
export interface ParsedTextForm {
  kind: 'image' | 'video' | 'audio' | 'document' | 'sticker' | 'location' | 'contacts' | null;
  text: string;
}

const FORM = /^\[(image|video|audio|sticker|location|contacts|document)(?: [^\]]*)?\](?: (.*))?$/s;

const CHOICE = /^\[choice ([^\]]*)\](?: (.*))?$/s;

/** Reads a choice's text form back: the id and title of what the customer tapped, or null. */
export function parseChoice(content: string): { id: string; title: string } | null {
  const m = CHOICE.exec(content);
  return m ? { id: m[1], title: m[2] ?? '' } : null;
}

/** Reads a text form back (the demo agent uses it to recognise media); plain text has kind null. */
export function parseTextForm(content: string): ParsedTextForm {
  const m = FORM.exec(content);
  if (!m) return { kind: null, text: content };
  return { kind: m[1] as ParsedTextForm['kind'], text: m[2] ?? '' };
}
