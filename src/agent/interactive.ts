import { z } from 'zod';

/*
 * Interactive replies (docs/templates.md): reply buttons and lists, as the
 * agent asks for them (the OpenAI-compatible tools reply_with_buttons and
 * reply_with_list, the HTTP agent's `buttons` and `list`), Meta's limits
 * checked before anything is sent, the Cloud API object, and the plain-text
 * form with the options numbered that goes out when a reply breaks a limit.
 */

/** One reply button: `id` comes back when the customer taps it. */
export interface ReplyButton {
  id: string;
  title: string;
}

/** One row of a list. */
export interface ListRow {
  id: string;
  title: string;
  description?: string;
}

/** A list: the button that opens it and its sections of rows. */
export interface ReplyList {
  button: string;
  sections: { title?: string; rows: ListRow[] }[];
}

/** What an agent asked to offer with its reply. */
export type InteractiveChoice = { kind: 'buttons'; buttons: ReplyButton[] } | { kind: 'list'; list: ReplyList };

/** Meta's limits on interactive messages (characters, counted as code points). */
export const INTERACTIVE_LIMITS = Object.freeze({
  body: 1024,
  buttons: 3,
  buttonTitle: 20,
  buttonId: 256,
  listButton: 20,
  sections: 10,
  rows: 10,
  sectionTitle: 24,
  rowTitle: 24,
  rowId: 200,
  rowDescription: 72,
});

const L = INTERACTIVE_LIMITS;
const len = (s: string) => [...s].length;

/** The shapes as agents send them (loose: the limits are checked by interactiveProblem, not here). */
export const buttonsSchema = z.array(z.object({ id: z.string(), title: z.string() })).min(1).max(100);
export const listSchema = z.object({
  button: z.string(),
  sections: z
    .array(z.object({ title: z.string().optional(), rows: z.array(z.object({ id: z.string(), title: z.string(), description: z.string().optional() })).max(100) }))
    .min(1)
    .max(100),
});

/**
 * What breaks Meta's limits in an interactive reply, or null when it can be
 * sent as it is: body 1–1,024 characters; 1–3 buttons with unique ids (1–256)
 * and unique titles (1–20); a list with a button text of 1–20, 1–10
 * sections, 1–10 rows in all, unique row ids (1–200), row titles 1–24,
 * descriptions up to 72, and section titles (1–24) when there are several.
 */
export function interactiveProblem(text: string, choice: InteractiveChoice): string | null {
  if (text.trim().length === 0) return 'the body text is empty';
  if (len(text) > L.body) return `the body text is longer than ${L.body} characters`;
  if (choice.kind === 'buttons') {
    const b = choice.buttons;
    if (b.length === 0 || b.length > L.buttons) return `${b.length} buttons (1 to ${L.buttons})`;
    for (const x of b) {
      if (x.id.trim().length === 0 || len(x.id) > L.buttonId) return `button id ${JSON.stringify(x.id.slice(0, 40))} must have 1 to ${L.buttonId} characters`;
      if (x.title.trim().length === 0 || len(x.title) > L.buttonTitle) return `button title ${JSON.stringify(x.title.slice(0, 40))} must have 1 to ${L.buttonTitle} characters`;
    }
    if (new Set(b.map((x) => x.id)).size !== b.length) return 'button ids are not unique';
    if (new Set(b.map((x) => x.title)).size !== b.length) return 'button titles are not unique';
    return null;
  }
  const { button, sections } = choice.list;
  if (button.trim().length === 0 || len(button) > L.listButton) return `the list button text must have 1 to ${L.listButton} characters`;
  if (sections.length === 0 || sections.length > L.sections) return `${sections.length} sections (1 to ${L.sections})`;
  const rows = sections.flatMap((s) => s.rows);
  if (rows.length === 0 || rows.length > L.rows) return `${rows.length} rows in all (1 to ${L.rows})`;
  for (const s of sections) {
    if (s.rows.length === 0) return 'a section has no rows';
    if (s.title !== undefined && len(s.title) > L.sectionTitle) return `section title ${JSON.stringify(s.title.slice(0, 40))} is longer than ${L.sectionTitle} characters`;
    if (sections.length > 1 && !s.title?.trim()) return 'every section needs a title when there are several';
  }
  for (const r of rows) {
    if (r.id.trim().length === 0 || len(r.id) > L.rowId) return `row id ${JSON.stringify(r.id.slice(0, 40))} must have 1 to ${L.rowId} characters`;
    if (r.title.trim().length === 0 || len(r.title) > L.rowTitle) return `row title ${JSON.stringify(r.title.slice(0, 40))} must have 1 to ${L.rowTitle} characters`;
    if (r.description !== undefined && len(r.description) > L.rowDescription) return `row description is longer than ${L.rowDescription} characters`;
  }
  if (new Set(rows.map((r) => r.id)).size !== rows.length) return 'row ids are not unique';
  return null;
}

/** The Cloud API `interactive` object of a choice that passed interactiveProblem. */
export function interactivePayload(text: string, choice: InteractiveChoice): Record<string, unknown> {
  if (choice.kind === 'buttons') {
    return { type: 'button', body: { text }, action: { buttons: choice.buttons.map((b) => ({ type: 'reply', reply: { id: b.id, title: b.title } })) } };
  }
  return {
    type: 'list',
    body: { text },
    action: {
      button: choice.list.button,
      sections: choice.list.sections.map((s) => ({
        ...(s.title ? { title: s.title } : {}),
        rows: s.rows.map((r) => ({ id: r.id, title: r.title, ...(r.description ? { description: r.description } : {}) })),
      })),
    },
  };
}

/**
 * The reply as plain text with the options numbered, for a choice that
 * breaks a limit: the customer still reads every option and can answer with
 * its number or its words.
 */
export function numberedText(text: string, choice: InteractiveChoice): string {
  const options =
    choice.kind === 'buttons'
      ? choice.buttons.map((b) => b.title)
      : choice.list.sections.flatMap((s) => s.rows.map((r) => (r.description ? `${r.title}: ${r.description}` : r.title)));
  const lines = options.map((o, i) => `${i + 1}. ${o}`);
  return [text.trim(), ...lines].filter((l) => l.length > 0).join('\n');
}

/**
 * The text form of an outbound interactive message (the conversation view
 * and the agent's history): the body, then the options with their ids, so
 * the agent knows what it offered and what a tap's id means.
 */
export function interactiveTextForm(payload: Record<string, unknown>): string {
  const body = ((payload.body as { text?: unknown } | undefined)?.text as string | undefined) ?? '';
  const action = (payload.action ?? {}) as { buttons?: { reply?: { id?: string; title?: string } }[]; sections?: { rows?: ListRow[] }[] };
  const options =
    payload.type === 'button'
      ? (action.buttons ?? []).map((b) => `${b.reply?.title ?? ''} (${b.reply?.id ?? ''})`)
      : (action.sections ?? []).flatMap((s) => (s.rows ?? []).map((r) => `${r.title} (${r.id})`));
  return `${body}\n[${payload.type === 'button' ? 'buttons' : 'list'}: ${options.join(' | ')}]`;
}

/**
 * What a customer chose, from a stored inbound message: the id and title of
 * a tapped reply button or list row, or the payload and text of a template's
 * quick-reply button; null for anything else.
 */
export function choiceOf(type: string, payload: unknown): { id: string; title: string } | null {
  if (typeof payload !== 'object' || payload === null) return null;
  const p = payload as Record<string, unknown>;
  if (type === 'interactive') {
    const kind = p.type;
    if (kind !== 'button_reply' && kind !== 'list_reply') return null;
    const r = p[kind] as { id?: unknown; title?: unknown } | undefined;
    return typeof r?.id === 'string' ? { id: r.id, title: typeof r.title === 'string' ? r.title : '' } : null;
  }
  if (type === 'button') {
    return typeof p.payload === 'string' ? { id: p.payload, title: typeof p.text === 'string' ? p.text : '' } : null;
  }
  return null;
}

/** The reply tools' `quote` argument. */
export const QUOTE_PROPERTY = { type: 'boolean', description: "true: the answer quotes the customer's last message." } as const;

/** The tool that answers with reply buttons (OpenAI-compatible function calling). */
export const REPLY_WITH_BUTTONS_TOOL = {
  type: 'function',
  function: {
    name: 'reply_with_buttons',
    description:
      'Answer with a short text and up to 3 buttons the customer can tap. Use it when the customer should pick one of a few options. The id of the tapped button comes back in the next message as [choice <id>].',
    parameters: {
      type: 'object',
      properties: {
        text: { type: 'string', description: 'The message, at most 1024 characters.' },
        quote: QUOTE_PROPERTY,
        buttons: {
          type: 'array',
          maxItems: 3,
          items: {
            type: 'object',
            properties: { id: { type: 'string', description: 'Your id for this option.' }, title: { type: 'string', description: 'The label, at most 20 characters.' } },
            required: ['id', 'title'],
          },
        },
      },
      required: ['text', 'buttons'],
    },
  },
} as const;

/** The tool that answers with a list (OpenAI-compatible function calling). */
export const REPLY_WITH_LIST_TOOL = {
  type: 'function',
  function: {
    name: 'reply_with_list',
    description:
      'Answer with a short text and a list of up to 10 options in sections, opened by a button. Use it for more than 3 options. The id of the chosen row comes back in the next message as [choice <id>].',
    parameters: {
      type: 'object',
      properties: {
        text: { type: 'string', description: 'The message, at most 1024 characters.' },
        quote: QUOTE_PROPERTY,
        button: { type: 'string', description: 'The label of the button that opens the list, at most 20 characters.' },
        sections: {
          type: 'array',
          maxItems: 10,
          items: {
            type: 'object',
            properties: {
              title: { type: 'string', description: 'At most 24 characters.' },
              rows: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    id: { type: 'string' },
                    title: { type: 'string', description: 'At most 24 characters.' },
                    description: { type: 'string', description: 'At most 72 characters.' },
                  },
                  required: ['id', 'title'],
                },
              },
            },
            required: ['rows'],
          },
        },
      },
      required: ['text', 'button', 'sections'],
    },
  },
} as const;

const buttonsArgs = z.object({ text: z.string(), buttons: buttonsSchema, quote: z.boolean().optional() });
const listArgs = listSchema.extend({ text: z.string(), quote: z.boolean().optional() });

/**
 * Reads a reply_with_buttons or reply_with_list call's arguments: the reply
 * text and the choice, or null when the call is not one of them or its
 * arguments are not of the tool's shape.
 */
export function interactiveFromToolCall(name: string, args: string | null | undefined): { text: string; choice: InteractiveChoice; quote: boolean } | null {
  if (name !== REPLY_WITH_BUTTONS_TOOL.function.name && name !== REPLY_WITH_LIST_TOOL.function.name) return null;
  let json: unknown;
  try {
    json = JSON.parse(args ?? '');
  } catch {
    return null;
  }
  if (name === REPLY_WITH_BUTTONS_TOOL.function.name) {
    const p = buttonsArgs.safeParse(json);
    return p.success ? { text: p.data.text, choice: { kind: 'buttons', buttons: p.data.buttons }, quote: p.data.quote === true } : null;
  }
  const p = listArgs.safeParse(json);
  return p.success ? { text: p.data.text, choice: { kind: 'list', list: { button: p.data.button, sections: p.data.sections } }, quote: p.data.quote === true } : null;
}
