import { parseArgs } from 'node:util';
import type { z } from 'zod';
import { UsageError } from './errors.ts';
import { isRowId } from '../shared/ids.ts';

/** A flag a command takes: a string value, or a switch. */
export type FlagSpec = Record<string, { type: 'string' | 'boolean' }>;

/** Parsed flags: strings for valued flags, true for switches given. */
export type Flags = Record<string, string | boolean | undefined>;

/**
 * Parses a command's flags strictly with node:util parseArgs (`--help` is
 * always accepted). Unknown flags, missing values and stray arguments become a
 * UsageError naming `command`.
 */
export function parseFlags(command: string, args: string[], spec: FlagSpec): Flags {
  try {
    const { values } = parseArgs({ args, options: { ...spec, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
    return values as Flags;
  } catch (err) {
    throw asUsageError(err, command) ?? err;
  }
}

/**
 * Turns an error of node:util parseArgs (thrown here or by a command that
 * parses its own flags) into a one-line UsageError; null for anything else.
 */
export function asUsageError(err: unknown, command: string): UsageError | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) return null;
  // Node's messages run to several sentences of advice; the first says what is wrong.
  const first = String((err as Error).message).split(/\.(\s|$)/)[0].trim();
  return new UsageError(first.charAt(0).toLowerCase() + first.slice(1), command);
}

/** A valued flag that must be given and not empty. */
export function requiredString(flags: Flags, name: string, command: string): string {
  const v = flags[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`, command);
  return v;
}

/** A valued flag that may be left out (empty counts as given, and is validated as such). */
export function optionalString(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

/** A whole-number flag, or undefined when left out. */
export function optionalWholeNumber(flags: Flags, name: string, command: string): number | undefined {
  const v = optionalString(flags, name);
  if (v === undefined) return undefined;
  if (!/^\d{1,15}$/.test(v)) throw new UsageError(`--${name} must be a whole number, got ${JSON.stringify(v)}`, command);
  return Number(v);
}

/** A `--tenant` id: digits, as the API shows them. */
export function tenantIdFlag(flags: Flags, command: string): string {
  const v = requiredString(flags, 'tenant', command);
  if (!isRowId(v)) throw new UsageError(`--tenant must be a tenant id (digits), got ${JSON.stringify(v)}`, command);
  return v;
}

/**
 * Validates input with the API's own schema before anything is touched, and
 * names the flag that carries a bad field (`fieldFlags` maps input fields to flags).
 */
export function validateInput<T extends z.ZodType>(schema: T, input: unknown, fieldFlags: Record<string, string>, command: string): z.infer<T> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const [field, ...rest] = issue.path.map(String);
  const flag = field === undefined ? null : (fieldFlags[field] ?? null);
  const where = [flag, ...rest].filter(Boolean).join(': ');
  throw new UsageError(`${where ? where + ': ' : ''}${issue.message}`, command);
}
