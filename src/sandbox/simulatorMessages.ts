/*
 * What the Cloud API simulator checks of messages other than text, as Meta
 * does: interactive limits (131009 Parameter value is not valid), templates
 * (132001 unknown name or language, 132000 wrong parameter count of the
 * body or of a URL button, 132012 a media or location header missing,
 * 132015 / 132016 paused or disabled), media by id or link, reactions. Each check
 * returns the text form the phone page shows, or throws a SimError.
 */

/** A Meta error the simulator answers with. */
export class SimError {
  constructor(
    readonly httpStatus: number,
    readonly code: number,
    readonly title: string,
    readonly details?: string,
    readonly subcode?: number,
  ) {}
}

/** A template as the simulator serves it from GET /{waba-id}/message_templates. */
export interface SimTemplate {
  id: string;
  name: string;
  language: string;
  status: string;
  category: string;
  parameter_format?: 'POSITIONAL' | 'NAMED';
  components: Record<string, unknown>[];
}

/** What a checked message is, for the `send` event and the phone page. */
export interface CheckedMessage {
  /** The text form: the body, a caption, an emoji, a template's filled-in body. */
  text: string;
  /** Interactive messages: what the customer can tap. */
  options: { id: string; title: string; description?: string }[] | null;
  /** A list's button text. */
  listButton: string | null;
  /** Quick-reply buttons of a template: what the customer can tap (payload = the button text). */
  media: { type: string; id: string | null; link: string | null } | null;
}

const invalid = (details: string) => new SimError(400, 131009, 'Parameter value is not valid', details);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const chars = (s: string) => [...s].length;
const VAR = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

function lengthCheck(what: string, v: unknown, min: number, max: number): string {
  if (typeof v !== 'string' || chars(v) < min || chars(v) > max) throw invalid(`${what} length invalid. Min length: ${min}, Max length: ${max}`);
  return v;
}

/** An interactive message: button (1–3 reply buttons) or list (≤ 10 sections, ≤ 10 rows in all). */
export function checkInteractive(obj: unknown): CheckedMessage {
  if (!isObject(obj)) throw new SimError(400, 100, 'Invalid parameter', "The parameter interactive is required.");
  const body = lengthCheck('Body text', (obj.body as { text?: unknown } | undefined)?.text, 1, 1024);
  const action = obj.action;
  if (!isObject(action)) throw new SimError(400, 100, 'Invalid parameter', "The parameter interactive['action'] is required.");
  if (obj.type === 'button') {
    const buttons = action.buttons;
    if (!Array.isArray(buttons) || buttons.length < 1 || buttons.length > 3) throw invalid('Buttons count invalid. Min: 1, Max: 3');
    const options = buttons.map((b) => {
      const reply = isObject(b) && b.type === 'reply' && isObject(b.reply) ? b.reply : null;
      if (!reply) throw new SimError(400, 100, 'Invalid parameter', "Each button needs type 'reply' and a reply object.");
      return { id: lengthCheck('Button id', reply.id, 1, 256), title: lengthCheck('Button title', reply.title, 1, 20) };
    });
    if (new Set(options.map((o) => o.id)).size !== options.length) throw invalid('Button id is duplicated');
    if (new Set(options.map((o) => o.title)).size !== options.length) throw invalid('Button title is duplicated');
    return { text: body, options, listButton: null, media: null };
  }
  if (obj.type === 'list') {
    const button = lengthCheck('Button text', action.button, 1, 20);
    const sections = action.sections;
    if (!Array.isArray(sections) || sections.length < 1 || sections.length > 10) throw invalid('Sections count invalid. Min: 1, Max: 10');
    const options: CheckedMessage['options'] & object = [];
    for (const s of sections) {
      if (!isObject(s) || !Array.isArray(s.rows) || s.rows.length === 0) throw invalid('Each section needs at least one row');
      if (s.title !== undefined) lengthCheck('Section title', s.title, 1, 24);
      else if (sections.length > 1) throw invalid('Section title is required when there are several sections');
      for (const r of s.rows) {
        if (!isObject(r)) throw invalid('Row is invalid');
        const row = { id: lengthCheck('Row id', r.id, 1, 200), title: lengthCheck('Row title', r.title, 1, 24) };
        if (r.description !== undefined) lengthCheck('Row description', r.description, 0, 72);
        options.push(typeof r.description === 'string' ? { ...row, description: r.description } : row);
      }
    }
    if (options.length > 10) throw invalid('Total row count exceed max allowed count: 10');
    if (new Set(options.map((o) => o.id)).size !== options.length) throw invalid('Row id is duplicated');
    return { text: body, options, listButton: button, media: null };
  }
  throw new SimError(400, 100, 'Invalid parameter', `The simulator takes interactive types button and list, not ${JSON.stringify(obj.type)}.`);
}

/** An image or document: an uploaded media id (known to this simulator) or a link. */
export function checkMedia(type: string, obj: unknown, uploaded: (id: string) => boolean): CheckedMessage {
  if (!isObject(obj)) throw new SimError(400, 100, 'Invalid parameter', `The parameter ${type} is required.`);
  const id = typeof obj.id === 'string' ? obj.id : null;
  const link = typeof obj.link === 'string' ? obj.link : null;
  if ((id === null) === (link === null)) throw new SimError(400, 100, 'Invalid parameter', `Exactly one of ${type}['id'] and ${type}['link'] is required.`);
  if (id !== null && !uploaded(id)) throw new SimError(400, 131053, 'Media upload error', `Unknown media id ${id}`);
  if (obj.caption !== undefined) lengthCheck('Caption', obj.caption, 0, 1024);
  const caption = typeof obj.caption === 'string' ? obj.caption : '';
  const label = type === 'document' && typeof obj.filename === 'string' ? `[document ${obj.filename}]` : `[${type}]`;
  return { text: caption ? `${label} ${caption}` : label, options: null, listButton: null, media: { type, id, link } };
}

/** A reaction to a message. */
export function checkReaction(obj: unknown): CheckedMessage {
  if (!isObject(obj) || typeof obj.message_id !== 'string' || obj.message_id.length === 0) {
    throw new SimError(400, 100, 'Invalid parameter', "The parameter reaction['message_id'] is required.");
  }
  if (typeof obj.emoji !== 'string') throw new SimError(400, 100, 'Invalid parameter', "The parameter reaction['emoji'] is required.");
  return { text: obj.emoji, options: null, listButton: null, media: null };
}

/** A template send, against the templates of the number's account. */
export function checkTemplate(obj: unknown, templates: readonly SimTemplate[]): CheckedMessage {
  if (!isObject(obj) || typeof obj.name !== 'string') throw new SimError(400, 100, 'Invalid parameter', "The parameter template['name'] is required.");
  const code = (obj.language as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string') throw new SimError(400, 100, 'Invalid parameter', "The parameter template['language']['code'] is required.");
  const t = templates.find((x) => x.name === obj.name && x.language === code);
  if (!t) throw new SimError(404, 132001, 'Template name does not exist in the translation', `template name (${obj.name}) does not exist in ${code}`);
  if (t.status === 'PAUSED') throw new SimError(400, 132015, 'Template is Paused', `template ${t.name} is paused`);
  if (t.status !== 'APPROVED') throw new SimError(400, 132016, 'Template is disabled', `template ${t.name} is ${t.status}`);
  const comps = Array.isArray(obj.components) ? (obj.components as Record<string, unknown>[]) : [];
  const sent = (type: string) => comps.find((c) => isObject(c) && c.type === type);
  const tc = (type: string) => t.components.find((c) => String(c.type).toUpperCase() === type);
  const body = tc('BODY');
  const bodyText = typeof body?.text === 'string' ? body.text : '';
  const vars = [...new Set([...bodyText.matchAll(VAR)].map((m) => m[1]))];
  const params = (sent('body')?.parameters ?? []) as Record<string, unknown>[];
  if (params.length !== vars.length) {
    throw new SimError(400, 132000, 'Number of parameters does not match the expected number of params', `body: number of localizable_params (${params.length}) does not match the expected number of params (${vars.length})`);
  }
  const named = t.parameter_format === 'NAMED';
  const value = new Map<string, string>();
  params.forEach((p, i) => {
    if (!isObject(p) || p.type !== 'text' || typeof p.text !== 'string' || p.text.trim() === '') throw invalid('Body parameter must be a non-empty text');
    const key = named ? p.parameter_name : String(i + 1);
    if (typeof key !== 'string' || !vars.includes(key)) throw invalid(`Parameter name is missing or not in the template: ${String(key)}`);
    value.set(key, p.text);
  });
  const header = tc('HEADER');
  const format = header ? String(header.format ?? 'TEXT').toUpperCase() : null;
  if (format === 'LOCATION') {
    const hp = (sent('header')?.parameters ?? []) as Record<string, unknown>[];
    const place = hp[0]?.type === 'location' ? hp[0].location : undefined;
    const lat = isObject(place) ? Number(place.latitude) : NaN;
    const lng = isObject(place) ? Number(place.longitude) : NaN;
    if (!Number.isFinite(lat) || Math.abs(lat) > 90 || !Number.isFinite(lng) || Math.abs(lng) > 180) {
      throw new SimError(400, 132012, 'Parameter format does not match format in the created template', 'header: a location with latitude and longitude is required');
    }
  } else if (format && format !== 'TEXT') {
    const hp = (sent('header')?.parameters ?? []) as Record<string, unknown>[];
    const media = hp[0]?.[format.toLowerCase()];
    if (!isObject(media) || (typeof media.id !== 'string' && typeof media.link !== 'string')) {
      throw new SimError(400, 132012, 'Parameter format does not match format in the created template', `header: a ${format.toLowerCase()} is required`);
    }
  }
  const buttons = (tc('BUTTONS')?.buttons ?? []) as Record<string, unknown>[];
  checkUrlButtons(buttons, comps);
  const quick = buttons.filter((b) => String(b.type).toUpperCase() === 'QUICK_REPLY').map((b) => ({ id: String(b.text), title: String(b.text) }));
  return { text: bodyText.replace(VAR, (_, v: string) => value.get(v) ?? ''), options: quick.length ? quick : null, listButton: null, media: null };
}

/**
 * A button whose URL takes a variable needs a `button` component of
 * sub_type url naming its index, with one text parameter per variable; a
 * button component for any other index is refused.
 */
function checkUrlButtons(buttons: Record<string, unknown>[], comps: Record<string, unknown>[]): void {
  const sentButtons = comps.filter((c) => isObject(c) && c.type === 'button');
  buttons.forEach((b, i) => {
    if (String(b.type).toUpperCase() !== 'URL' || typeof b.url !== 'string') return;
    const vars = [...new Set([...b.url.matchAll(VAR)].map((m) => m[1]))];
    if (vars.length === 0) return;
    const c = sentButtons.find((x) => String(x.index) === String(i));
    const params = Array.isArray(c?.parameters) ? (c.parameters as unknown[]) : [];
    if (!c || params.length !== vars.length) {
      throw new SimError(400, 132000, 'Number of parameters does not match the expected number of params', `button at index ${i}: number of localizable_params (${params.length}) does not match the expected number of params (${vars.length})`);
    }
    if (c.sub_type !== 'url') throw invalid(`Button at index ${i} is a URL button: sub_type must be url`);
    for (const p of params) if (!isObject(p) || p.type !== 'text' || typeof p.text !== 'string' || p.text.trim() === '') throw invalid(`Button at index ${i}: parameter must be a non-empty text`);
  });
  for (const c of sentButtons) {
    const i = Number(c.index);
    const b = Number.isInteger(i) ? buttons[i] : undefined;
    const takesParam = b && String(b.type).toUpperCase() === 'URL' && typeof b.url === 'string' && /\{\{\s*[A-Za-z0-9_]+\s*\}\}/.test(b.url);
    if (!takesParam && c.sub_type === 'url') throw invalid(`Button at index ${String(c.index)} is not a URL button with a parameter`);
  }
}

/**
 * Reads a multipart/form-data upload (POST /{phone-number-id}/media): the
 * `file` part and the `messaging_product` field. Null when it is not one.
 */
export function parseUpload(contentType: string | undefined, raw: Buffer): { bytes: Buffer; mimeType: string; filename: string; product: string | null } | null {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType ?? '');
  if (!m) return null;
  const boundary = Buffer.from(`--${m[1] ?? m[2]}`);
  let file: { bytes: Buffer; mimeType: string; filename: string } | null = null;
  let product: string | null = null;
  let at = raw.indexOf(boundary);
  while (at >= 0) {
    const start = at + boundary.length + 2;
    const next = raw.indexOf(boundary, start);
    if (next < 0) break;
    const part = raw.subarray(start, next - 2);
    const split = part.indexOf('\r\n\r\n');
    if (split > 0) {
      const head = part.subarray(0, split).toString('utf8');
      const body = part.subarray(split + 4);
      const name = /name="([^"]*)"/.exec(head)?.[1];
      if (name === 'file') {
        file = { bytes: Buffer.from(body), mimeType: /content-type:\s*([^\r\n]+)/i.exec(head)?.[1]?.trim() ?? 'application/octet-stream', filename: /filename="([^"]*)"/.exec(head)?.[1] ?? 'file' };
      } else if (name === 'messaging_product') product = body.toString('utf8');
    }
    at = next;
  }
  return file ? { ...file, product } : null;
}
