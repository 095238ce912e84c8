import { Ajv, type ValidateFunction } from 'ajv';
import { z } from 'zod';
import type { Db } from '../db/db.ts';
import { EgressRefusedError, type EgressPolicy } from '../shared/egress.ts';
import { badRequest, conflict, notFound } from '../shared/errors.ts';
import { decrypt, encrypt, type SecretKeys } from '../shared/secrets.ts';
import { nestedQuantifier, schemaPatterns } from './toolSchemaSafety.ts';
import { DELETE_TOOL, INSERT_TOOL, TOOL_BY_ID, TOOL_TENANT_EXISTS, TOOLS_OF_TENANT, UPDATE_TOOL } from './tools.sql.ts';

/** A tool's name: what the model calls it (OpenAI's function-name rule). */
export const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
/** Names the agent offers itself; a tenant tool cannot take them. */
export const RESERVED_TOOL_NAMES: readonly string[] = ['handoff_to_human', 'reply_with_buttons', 'reply_with_list', 'reply_with_media'];
/** The largest arguments schema, as JSON: it goes to the model with every turn. */
export const MAX_SCHEMA_CHARS = 16_384;
/** Bounds of a tool's timeout, and its default. */
export const MIN_TOOL_TIMEOUT_MS = 100;
export const MAX_TOOL_TIMEOUT_MS = 60_000;
export const DEFAULT_TOOL_TIMEOUT_MS = 10_000;

const name = z.string().regex(TOOL_NAME, 'must be 1 to 64 letters, digits, _ or -');
const timeoutMs = z.number().int().min(MIN_TOOL_TIMEOUT_MS).max(MAX_TOOL_TIMEOUT_MS);
const parameters = z.record(z.string(), z.unknown()).describe('JSON Schema of the arguments (an object schema); checked when saved');

/** `POST /api/tools` (docs/tools.md). */
export const toolCreateInput = z.strictObject({
  name,
  description: z.string().max(1024).optional(),
  parameters,
  url: z.string().max(2048).describe('https, or a destination the operator allows (WAGATE_EGRESS_ALLOW)'),
  secret: z.string().min(1).max(1000).nullable().describe('signs each call (X-Wagate-Signature); write-only'),
  safeToRepeat: z.boolean().optional().describe('a restarted turn may call it again with the same arguments (default false)'),
  timeoutMs: timeoutMs.optional(),
  enabled: z.boolean().optional(),
});
export type ToolCreateInput = z.infer<typeof toolCreateInput>;

/** `PATCH /api/tools/:id`: the fields given change. */
export const toolPatchInput = toolCreateInput.partial();
export type ToolPatchInput = z.infer<typeof toolPatchInput>;

/** A tool as the API shows it (the secret never, only whether it is set). */
export interface ToolView {
  id: string;
  tenantId: string;
  name: string;
  description: string;
  parameters: Record<string, unknown>;
  url: string;
  hasSecret: boolean;
  safeToRepeat: boolean;
  timeoutMs: number;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

/** A tool's whole row: what a turn reads (TenantToolRow) and the rest the API shows. */
interface ToolRow extends TenantToolRow {
  tenant_id: string;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

/** A tool as a turn uses it: secret decrypted, arguments validator compiled. */
export interface TenantTool {
  id: string;
  name: string;
  description: string;
  parameters: Record<string, unknown>;
  url: string;
  secret: string | null;
  safeToRepeat: boolean;
  timeoutMs: number;
  /** Validates arguments against `parameters`; its `errors` say why not. */
  validate: ValidateFunction;
  /** The validator's errors as one line for the model. */
  errorsText(errors: ValidateFunction['errors']): string;
}

/** A fresh validator instance: formats are not checked (no format names are refused), unknown keywords are allowed. */
function newAjv(): Ajv {
  return new Ajv({ strict: false, allErrors: true, validateFormats: false });
}

/**
 * Compiles an arguments schema, as when a tool is saved: it must be a valid
 * JSON Schema describing an object, at most MAX_SCHEMA_CHARS as JSON.
 * Throws a 400 naming what is wrong.
 */
export function checkParametersSchema(schema: Record<string, unknown>, ajv: Ajv = newAjv()): ValidateFunction {
  if (JSON.stringify(schema).length > MAX_SCHEMA_CHARS) throw badRequest('invalid_schema', `parameters: larger than ${MAX_SCHEMA_CHARS} characters as JSON`);
  if (schema.type !== 'object') throw badRequest('invalid_schema', 'parameters: must be an object schema ("type": "object"), as function arguments are a JSON object');
  for (const p of schemaPatterns(schema)) {
    if (nestedQuantifier(p.pattern)) {
      throw badRequest('invalid_schema', `${p.path}: ${JSON.stringify(p.pattern)} repeats a group that repeats itself (like (a+)+), which can take exponential time; write it without the nested repetition`);
    }
  }
  try {
    return ajv.compile(schema);
  } catch (err) {
    throw badRequest('invalid_schema', `parameters: not a valid JSON Schema: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Create, list, read, change and delete a tenant's tools (the API's; docs/tools.md). */
export class ToolAdmin {
  constructor(
    private readonly db: Db,
    private readonly secretKey: Buffer,
    /** The egress policy that judges a tenant's tool URL before it is saved (wider for the sandbox's demo tenant alone). */
    private readonly egress: (tenantId: string) => EgressPolicy,
  ) {}

  async list(tenantId: string): Promise<ToolView[]> {
    await this.requireTenant(tenantId);
    return (await this.db.query<ToolRow>(TOOLS_OF_TENANT, [tenantId])).map(view);
  }

  /** A tool, if `tenantId` (null: the admin, any tenant) may see it. */
  async get(toolId: string, tenantId: string | null): Promise<ToolView> {
    const [row] = await this.db.query<ToolRow>(TOOL_BY_ID, [toolId, tenantId]);
    if (!row) throw notFound('tool');
    return view(row);
  }

  async create(tenantId: string, t: ToolCreateInput): Promise<ToolView> {
    this.checkName(t.name);
    checkParametersSchema(t.parameters);
    await this.checkUrl(tenantId, t.url);
    try {
      const [row] = await this.db.query<ToolRow>(INSERT_TOOL, [
        tenantId,
        t.name,
        t.description ?? '',
        JSON.stringify(t.parameters),
        t.url,
        t.secret == null ? null : encrypt(this.secretKey, t.secret),
        t.safeToRepeat ?? false,
        t.timeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS,
        t.enabled ?? true,
      ]);
      if (!row) throw notFound('tenant');
      return view(row);
    } catch (err) {
      throw nameTaken(err, t.name);
    }
  }

  async update(toolId: string, tenantId: string | null, t: ToolPatchInput): Promise<ToolView> {
    const current = await this.get(toolId, tenantId);
    if (t.name !== undefined) this.checkName(t.name);
    if (t.parameters !== undefined) checkParametersSchema(t.parameters);
    if (t.url !== undefined) await this.checkUrl(current.tenantId, t.url);
    try {
      const [row] = await this.db.query<ToolRow>(UPDATE_TOOL, [
        current.tenantId,
        toolId,
        t.name ?? null,
        t.description ?? null,
        t.parameters === undefined ? null : JSON.stringify(t.parameters),
        t.secret !== undefined,
        t.secret == null ? null : encrypt(this.secretKey, t.secret),
        t.url ?? null,
        t.safeToRepeat ?? null,
        t.timeoutMs ?? null,
        t.enabled ?? null,
      ]);
      if (!row) throw notFound('tool');
      return view(row);
    } catch (err) {
      throw nameTaken(err, t.name ?? current.name);
    }
  }

  async remove(toolId: string, tenantId: string | null): Promise<ToolView> {
    const current = await this.get(toolId, tenantId);
    const [row] = await this.db.query<{ id: string }>(DELETE_TOOL, [current.tenantId, toolId]);
    if (!row) throw notFound('tool');
    return current;
  }

  private checkName(n: string): void {
    if (RESERVED_TOOL_NAMES.includes(n)) throw badRequest('invalid_request', `name: ${n} is the agent's own tool; choose another name`);
  }

  private async checkUrl(tenantId: string, url: string): Promise<void> {
    try {
      await this.egress(tenantId).checkUrl(url);
    } catch (err) {
      if (err instanceof EgressRefusedError) throw badRequest('egress_refused', `url: ${err.message}`);
      throw err;
    }
  }

  private async requireTenant(tenantId: string): Promise<void> {
    const [row] = await this.db.query(TOOL_TENANT_EXISTS, [tenantId]);
    if (!row) throw notFound('tenant');
  }
}

function nameTaken(err: unknown, n: string): unknown {
  if ((err as { code?: string })?.code === '23505') return conflict('tool_name_taken', `name: this tenant already has a tool named ${n}`);
  return err;
}

function view(r: ToolRow): ToolView {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    name: r.name,
    description: r.description,
    parameters: r.parameters,
    url: r.url,
    hasSecret: r.secret_enc !== null,
    safeToRepeat: r.safe_to_repeat,
    timeoutMs: r.timeout_ms,
    enabled: r.enabled,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

/** A tool as TENANT_SETTINGS reads it (ENABLED_TOOLS_JSON). */
export interface TenantToolRow {
  id: string;
  name: string;
  description: string;
  parameters: Record<string, unknown>;
  url: string;
  secret_enc: string | null;
  safe_to_repeat: boolean;
  timeout_ms: number;
}

/**
 * The tools a turn may offer, from their rows: secrets decrypted, argument
 * validators compiled, with a validator instance of their own each (none is
 * kept across loads, so a replaced schema is not held in memory).
 */
export function toTenantTools(rows: readonly TenantToolRow[], secretKey: SecretKeys): TenantTool[] {
  if (rows.length === 0) return [];
  const out: TenantTool[] = [];
  for (const r of rows) {
    // One instance per tool: schemas of two tools may carry the same $id.
    const ajv = newAjv();
    let validate: ValidateFunction;
    try {
      validate = ajv.compile(r.parameters);
    } catch {
      // Checked when saved; a schema this version of the validator refuses is left out rather than breaking every turn.
      continue;
    }
    out.push({
      id: r.id,
      name: r.name,
      description: r.description,
      parameters: r.parameters,
      url: r.url,
      secret: r.secret_enc ? decrypt(secretKey, r.secret_enc) : null,
      safeToRepeat: r.safe_to_repeat,
      timeoutMs: r.timeout_ms,
      validate,
      errorsText: (errors) => ajv.errorsText(errors, { dataVar: 'arguments' }),
    });
  }
  return out;
}
