import { AppError } from '../shared/errors.ts';

/** A stored template, as sends need it. */
export interface StoredTemplate {
  name: string;
  language: string;
  status: string;
  category: string | null;
  /** POSITIONAL ({{1}}) or NAMED ({{first_name}}). */
  parameterFormat: string;
  /** Meta's component array. */
  components: unknown[];
}

/** What the caller gives: body parameters by position or by name, and the header's. */
export interface TemplateInput {
  parameters?: string[] | Record<string, string>;
  /** A text header's one parameter. */
  headerText?: string;
  /** A media header's media: its type and the object (`{id}` uploaded, or `{link}`) to send. */
  headerMedia?: { type: 'image' | 'document' | 'video'; object: Record<string, unknown> } | null;
  /** A location header's place. */
  headerLocation?: TemplateLocation | null;
  /** The parameters of buttons whose URL takes one: by the button's index among the template's buttons. */
  buttons?: { index: number; parameters: string[] }[];
}

/**
 * The input of a template with fixed parameters (the opt-in template for
 * closed windows): a media header goes by its link, which WhatsApp fetches.
 */
export function fixedTemplateInput(want: {
  parameters?: string[] | Record<string, string>;
  header?: { text: string } | { type: 'image' | 'document' | 'video'; url: string; filename?: string } | { type: 'location'; latitude: number; longitude: number; name?: string; address?: string };
  buttons?: { index: number; parameters: string[] }[];
}): TemplateInput {
  const h = want.header;
  const input: TemplateInput = { parameters: want.parameters, buttons: want.buttons };
  if (!h) return input;
  if ('text' in h) input.headerText = h.text;
  else if (h.type === 'location') input.headerLocation = { latitude: h.latitude, longitude: h.longitude, name: h.name, address: h.address };
  else input.headerMedia = { type: h.type, object: { link: h.url, ...(h.type === 'document' && h.filename ? { filename: h.filename } : {}) } };
  return input;
}

/** The place a location header shows. */
export interface TemplateLocation {
  latitude: number;
  longitude: number;
  name?: string;
  address?: string;
}

/** A button whose URL takes a parameter (a dynamic URL suffix). */
export interface UrlButton {
  /** Its position among the template's buttons, from 0: what the send names it by. */
  index: number;
  text: string;
  url: string;
  vars: string[];
}

/** The template's parts that take parameters. */
export interface TemplateShape {
  bodyText: string;
  /** The body's variables in order: "1", "2" … or names. */
  bodyVars: string[];
  headerFormat: 'TEXT' | 'IMAGE' | 'DOCUMENT' | 'VIDEO' | 'LOCATION' | null;
  headerText: string | null;
  headerVars: string[];
  /** Buttons whose URL takes a variable, which the send fills. */
  urlButtons: UrlButton[];
}

const VAR = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;
const HAS_VAR = /\{\{\s*[A-Za-z0-9_]+\s*\}\}/;

/** A 400/404/409 for a template send, with a stable code. */
export const templateError = (status: number, code: string, message: string) => new AppError(status, code, message);

/** Reads the parts of a template that take parameters. */
export function templateShape(t: StoredTemplate): TemplateShape {
  const comps = (Array.isArray(t.components) ? t.components : []) as Record<string, unknown>[];
  const byType = (type: string) => comps.find((c) => String(c?.type ?? '').toUpperCase() === type);
  const body = byType('BODY');
  const header = byType('HEADER');
  const buttons = byType('BUTTONS');
  const bodyText = typeof body?.text === 'string' ? body.text : '';
  const headerFormat = header ? (String(header.format ?? 'TEXT').toUpperCase() as TemplateShape['headerFormat']) : null;
  const headerText = headerFormat === 'TEXT' && typeof header?.text === 'string' ? header.text : null;
  const list = Array.isArray(buttons?.buttons) ? (buttons.buttons as Record<string, unknown>[]) : [];
  return {
    bodyText,
    bodyVars: varsOf(bodyText),
    headerFormat,
    headerText,
    headerVars: headerText ? varsOf(headerText) : [],
    urlButtons: list.flatMap((b, index) =>
      String(b?.type ?? '').toUpperCase() === 'URL' && typeof b.url === 'string' && HAS_VAR.test(b.url)
        ? [{ index, text: typeof b.text === 'string' ? b.text : '', url: b.url, vars: varsOf(b.url) }]
        : [],
    ),
  };
}

function varsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(VAR)) if (!out.includes(m[1])) out.push(m[1]);
  return out;
}

/**
 * Checks the parameters against the template, before anything reaches Meta:
 * it must be APPROVED; positional templates take an array of exactly as
 * many body parameters as it has variables, named ones an object with
 * exactly its variable names; a text header with a variable needs
 * `headerText`; a media header needs its media, a location header its
 * place; each button whose URL takes a parameter needs it, by index.
 * Throws AppError (4xx).
 */
export function checkTemplateInput(t: StoredTemplate, input: TemplateInput): TemplateShape {
  if (t.status.toUpperCase() !== 'APPROVED') {
    throw templateError(409, 'template_not_approved', `template ${t.name} (${t.language}) is ${t.status}, not APPROVED: Meta sends approved templates only`);
  }
  const shape = templateShape(t);
  const named = t.parameterFormat.toUpperCase() === 'NAMED';
  const p = input.parameters ?? (named ? {} : []);
  if (named) {
    if (Array.isArray(p)) throw templateError(400, 'template_parameters_invalid', `template ${t.name} takes named parameters: give an object {${shape.bodyVars.join(', ')}}`);
    const given = Object.keys(p);
    const missing = shape.bodyVars.filter((v) => !given.includes(v));
    const unknown = given.filter((v) => !shape.bodyVars.includes(v));
    if (missing.length || unknown.length) {
      const parts = [missing.length ? `missing ${missing.join(', ')}` : '', unknown.length ? `unknown ${unknown.join(', ')}` : ''].filter(Boolean);
      throw templateError(400, 'template_parameters_invalid', `template ${t.name} parameters: ${parts.join('; ')}`);
    }
  } else {
    if (!Array.isArray(p)) throw templateError(400, 'template_parameters_invalid', `template ${t.name} takes positional parameters: give an array of ${shape.bodyVars.length}`);
    if (p.length !== shape.bodyVars.length) {
      throw templateError(400, 'template_parameters_invalid', `template ${t.name} takes ${shape.bodyVars.length} body parameters, got ${p.length}`);
    }
  }
  const values = Array.isArray(p) ? p : Object.values(p);
  for (const v of values) {
    if (typeof v !== 'string' || v.trim().length === 0) throw templateError(400, 'template_parameters_invalid', 'template parameters must be non-empty strings');
    if (/[\n\t]| {5,}/.test(v)) throw templateError(400, 'template_parameters_invalid', 'template parameters cannot hold new lines, tabs or more than 4 spaces in a row');
  }
  checkButtons(t, shape, input.buttons ?? []);
  if (shape.headerVars.length > 0 && !input.headerText?.trim()) throw templateError(400, 'template_parameters_invalid', `template ${t.name} needs headerText for its header`);
  if (shape.headerVars.length === 0 && input.headerText !== undefined) throw templateError(400, 'template_parameters_invalid', `template ${t.name} has no header parameter`);
  const mediaHeader = shape.headerFormat === 'IMAGE' || shape.headerFormat === 'DOCUMENT' || shape.headerFormat === 'VIDEO';
  if (mediaHeader && !input.headerMedia) throw templateError(400, 'template_header_media_required', `template ${t.name} has a ${String(shape.headerFormat).toLowerCase()} header: give header.url`);
  if (!mediaHeader && input.headerMedia) throw templateError(400, 'template_parameters_invalid', `template ${t.name} has no media header`);
  if (mediaHeader && input.headerMedia && input.headerMedia.type.toUpperCase() !== shape.headerFormat) {
    throw templateError(400, 'template_parameters_invalid', `template ${t.name} has a ${String(shape.headerFormat).toLowerCase()} header, not ${input.headerMedia.type}`);
  }
  if (shape.headerFormat === 'LOCATION' && !input.headerLocation) {
    throw templateError(400, 'template_header_location_required', `template ${t.name} has a location header: give header {type: "location", latitude, longitude}`);
  }
  if (shape.headerFormat !== 'LOCATION' && input.headerLocation) throw templateError(400, 'template_parameters_invalid', `template ${t.name} has no location header`);
  if (input.headerLocation) {
    const { latitude, longitude } = input.headerLocation;
    if (!Number.isFinite(latitude) || Math.abs(latitude) > 90 || !Number.isFinite(longitude) || Math.abs(longitude) > 180) {
      throw templateError(400, 'template_parameters_invalid', 'header latitude must be within -90..90 and longitude within -180..180');
    }
  }
  return shape;
}

/**
 * Every button whose URL takes a parameter gets exactly one entry, by its
 * index, with as many parameters as its URL has variables (Meta allows one,
 * the URL's suffix); no entry names another button.
 */
function checkButtons(t: StoredTemplate, shape: TemplateShape, given: { index: number; parameters: string[] }[]): void {
  const bad = (message: string) => templateError(400, 'template_parameters_invalid', `template ${t.name}: ${message}`);
  const seen = new Set<number>();
  for (const b of given) {
    const button = shape.urlButtons.find((u) => u.index === b.index);
    if (!button) {
      const which = shape.urlButtons.length ? `only ${shape.urlButtons.map((u) => u.index).join(', ')}` : 'none';
      throw bad(`button ${b.index} takes no parameter (buttons whose URL takes one: ${which})`);
    }
    if (seen.has(b.index)) throw bad(`button ${b.index} is given twice`);
    seen.add(b.index);
    if (b.parameters.length !== button.vars.length) throw bad(`button ${b.index} (${button.text}) takes ${button.vars.length} parameter, got ${b.parameters.length}`);
    for (const v of b.parameters) {
      if (typeof v !== 'string' || v.trim().length === 0 || /\s/.test(v)) throw bad(`button ${b.index} parameters must be non-empty, without spaces or new lines (a URL suffix)`);
    }
  }
  const missing = shape.urlButtons.filter((u) => !seen.has(u.index));
  if (missing.length) throw bad(`buttons ${missing.map((u) => `${u.index} (${u.text})`).join(', ')} take a URL parameter: give buttons [{index, parameters}]`);
}

/**
 * The Cloud API `template` object and the text the conversation shows
 * (the body with its parameters filled in), for input checkTemplateInput passed.
 */
export function templateMessage(t: StoredTemplate, shape: TemplateShape, input: TemplateInput): { content: Record<string, unknown>; text: string } {
  const named = t.parameterFormat.toUpperCase() === 'NAMED';
  const p = input.parameters ?? (named ? {} : []);
  const value = (v: string) => (Array.isArray(p) ? p[Number(v) - 1] : p[v]) ?? '';
  const components: Record<string, unknown>[] = [];
  if (input.headerLocation) {
    const { latitude, longitude, name, address } = input.headerLocation;
    const location = { latitude: String(latitude), longitude: String(longitude), ...(name ? { name } : {}), ...(address ? { address } : {}) };
    components.push({ type: 'header', parameters: [{ type: 'location', location }] });
  } else if (input.headerMedia) {
    components.push({ type: 'header', parameters: [{ type: input.headerMedia.type, [input.headerMedia.type]: input.headerMedia.object }] });
  } else if (input.headerText !== undefined && shape.headerVars.length > 0) {
    components.push({ type: 'header', parameters: [{ type: 'text', text: input.headerText, ...(named ? { parameter_name: shape.headerVars[0] } : {}) }] });
  }
  if (shape.bodyVars.length > 0) {
    components.push({
      type: 'body',
      parameters: shape.bodyVars.map((v) => ({ type: 'text', text: value(v), ...(named ? { parameter_name: v } : {}) })),
    });
  }
  for (const b of [...(input.buttons ?? [])].sort((x, y) => x.index - y.index)) {
    components.push({ type: 'button', sub_type: 'url', index: String(b.index), parameters: b.parameters.map((text) => ({ type: 'text', text })) });
  }
  const fill = (text: string, vals: (v: string) => string) => text.replace(VAR, (_, v: string) => vals(v));
  const place = input.headerLocation;
  const header = shape.headerText
    ? fill(shape.headerText, () => input.headerText ?? '')
    : place
      ? `[location ${place.name ?? `${place.latitude},${place.longitude}`}]`
      : null;
  const body = fill(shape.bodyText, value);
  const text = [header ? `*${header}*` : null, body || `[template ${t.name}]`].filter(Boolean).join('\n');
  return { content: { name: t.name, language: { code: t.language }, ...(components.length ? { components } : {}) }, text };
}
