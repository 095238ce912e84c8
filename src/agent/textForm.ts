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
 *   once the media lane has kept the file (`media.file`, docs/media.md) the label
 *   carries its facts (`[document report.pdf, application/pdf, 12 KB, 3 pages]`,
 *   `[audio, 0:07]`) and the detail what was understood: `transcript: …` of a
 *   voice note, `text: …` of a PDF's first characters, or why it is not
 *   available (`not available: too_large`);
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
  const file = fileOf(row.media);
  const facts = file ? factsOf(row.type, file) : [];
  const head = filename ? `document ${filename}` : row.type;
  const label = `[${[head, ...facts].join(', ')}]`;
  // Ingest keeps a caption both as the body and in media; the body is the one operators may edit.
  const details: string[] = [];
  const caption = body ?? str(row.media?.caption);
  if (caption) details.push(caption);
  if (file) details.push(...understoodOf(file));
  return details.length ? `${label} ${details.join('\n')}` : label;
}

/** What the media lane wrote of a kept file (`media.file`). */
interface FileFacts {
  status: string | null;
  error: string | null;
  mime: string | null;
  size: number | null;
  transcript: string | null;
  excerpt: string | null;
  duration: number | null;
  pages: number | null;
}

function fileOf(media: Record<string, unknown> | null): FileFacts | null {
  const f = media?.file;
  if (!f || typeof f !== 'object') return null;
  const o = f as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return { status: str(o.status), error: str(o.error), mime: str(o.mime), size: num(o.size), transcript: str(o.transcript), excerpt: str(o.excerpt), duration: num(o.duration), pages: num(o.pages) };
}

function factsOf(type: string, f: FileFacts): string[] {
  const out: string[] = [];
  if (type === 'document' && f.mime) out.push(f.mime);
  if (f.duration !== null) out.push(formatDuration(f.duration));
  if (f.size !== null) out.push(formatSize(f.size));
  if (f.pages !== null) out.push(f.pages === 1 ? '1 page' : `${f.pages} pages`);
  return out;
}

function understoodOf(f: FileFacts): string[] {
  const out: string[] = [];
  if (f.transcript) out.push(`transcript: ${f.transcript}`);
  if (f.excerpt) out.push(`text: ${f.excerpt}`);
  if (f.error) out.push(`not available: ${f.error}`);
  return out;
}

/** 512 B, 12 KB, 3.4 MB. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** 0:07, 12:30. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
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

/** What a text form holds: the media kind (null for plain text), the caption, and what was understood of the file. */
export interface ParsedTextForm {
  kind: 'image' | 'video' | 'audio' | 'document' | 'sticker' | 'location' | 'contacts' | null;
  /** The caption (or the detail of a location or contacts); plain text: the whole text. */
  text: string;
  /** The file's facts from the label, in order (`invoice.pdf`, `application/pdf`, `12 KB`, `3 pages`, `0:07`). */
  facts: string[];
  /** A voice note's transcript, when there is one. */
  transcript: string | null;
  /** A PDF's first text, when there is some. */
  excerpt: string | null;
  /** Why the file is not available, when it is not. */
  unavailable: string | null;
}

const FORM = /^\[(image|video|audio|sticker|location|contacts|document)([ ,][^\]]*)?\](?: (.*))?$/s;

const CHOICE = /^\[choice ([^\]]*)\](?: (.*))?$/s;

/** Reads a choice's text form back: the id and title of what the customer tapped, or null. */
export function parseChoice(content: string): { id: string; title: string } | null {
  const m = CHOICE.exec(content);
  return m ? { id: m[1], title: m[2] ?? '' } : null;
}

/** Reads a text form back (the demo agent uses it to recognise media); plain text has kind null. */
export function parseTextForm(content: string): ParsedTextForm {
  const m = FORM.exec(content);
  if (!m) return { kind: null, text: content, facts: [], transcript: null, excerpt: null, unavailable: null };
  const kind = m[1] as ParsedTextForm['kind'];
  const facts = (m[2] ?? '').split(',').map((f) => f.trim()).filter(Boolean);
  const caption: string[] = [];
  const out: ParsedTextForm = { kind, text: '', facts, transcript: null, excerpt: null, unavailable: null };
  for (const line of (m[3] ?? '').split('\n')) {
    if (line.startsWith('transcript: ')) out.transcript = line.slice(12);
    else if (line.startsWith('text: ')) out.excerpt = line.slice(6);
    else if (line.startsWith('not available: ')) out.unavailable = line.slice(15);
    else caption.push(line);
  }
  out.text = caption.join('\n');
  return out;
}
