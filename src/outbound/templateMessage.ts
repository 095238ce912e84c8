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
  /** A media header's uploaded media: its type and the object (`{id}`) to send. */
  headerMedia?: { type: 'image' | 'document' | 'video'; object: Record<string, unknown> } | null;
}

/** The template's parts that take parameters. */
export interface TemplateShape {
  bodyText: string;
  /** The body's variables in order: "1", "2" … or names. */
  bodyVars: string[];
  headerFormat: 'TEXT' | 'IMAGE' | 'DOCUMENT' | 'VIDEO' | 'LOCATION' | null;
  headerText: string | null;
  headerVars: string[];
  /** Buttons whose URL takes a variable: wagate does not fill them. */
  dynamicButtons: number;
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
    dynamicButtons: list.filter((b) => String(b?.type ?? '').toUpperCase() === 'URL' && typeof b.url === 'string' && HAS_VAR.test(b.url)).length,
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
 * `headerText`; a media header needs its media. Throws AppError (4xx).
 */
export function checkTemplateInput(t: StoredTemplate, input: TemplateInput): TemplateShape {
  if (t.status.toUpperCase() !== 'APPROVED') {
    throw templateError(409, 'template_not_approved', `template ${t.name} (${t.language}) is ${t.status}, not APPROVED: Meta sends approved templates only`);
  }
  const shape = templateShape(t);
  if (shape.dynamicButtons > 0) throw templateError(400, 'template_unsupported', `template ${t.name} has a button whose URL takes a parameter: not supported`);
  if (shape.headerFormat === 'LOCATION') throw templateError(400, 'template_unsupported', `template ${t.name} has a location header: not supported`);
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
  if (shape.headerVars.length > 0 && !input.headerText?.trim()) throw templateError(400, 'template_parameters_invalid', `template ${t.name} needs headerText for its header`);
  if (shape.headerVars.length === 0 && input.headerText !== undefined) throw templateError(400, 'template_parameters_invalid', `template ${t.name} has no header parameter`);
  const mediaHeader = shape.headerFormat === 'IMAGE' || shape.headerFormat === 'DOCUMENT' || shape.headerFormat === 'VIDEO';
  if (mediaHeader && !input.headerMedia) throw templateError(400, 'template_header_media_required', `template ${t.name} has a ${String(shape.headerFormat).toLowerCase()} header: give header.url`);
  if (!mediaHeader && input.headerMedia) throw templateError(400, 'template_parameters_invalid', `template ${t.name} has no media header`);
  if (mediaHeader && input.headerMedia && input.headerMedia.type.toUpperCase() !== shape.headerFormat) {
    throw templateError(400, 'template_parameters_invalid', `template ${t.name} has a ${String(shape.headerFormat).toLowerCase()} header, not ${input.headerMedia.type}`);
  }
  return shape;
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
  if (input.headerMedia) {
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
  const fill = (text: string, vals: (v: string) => string) => text.replace(VAR, (_, v: string) => vals(v));
  const header = shape.headerText ? fill(shape.headerText, () => input.headerText ?? '') : null;
  const body = fill(shape.bodyText, value);
  const text = [header ? `*${header}*` : null, body || `[template ${t.name}]`].filter(Boolean).join('\n');
  return { content: { name: t.name, language: { code: t.language }, ...(components.length ? { components } : {}) }, text };
}
