import { z } from 'zod';
import type { Db } from '../db/db.ts';
import { EgressRefusedError, type EgressPolicy } from '../shared/egress.ts';
import { AppError, badRequest, conflict, notFound } from '../shared/errors.ts';
import { encrypt } from '../shared/secrets.ts';
import { agentConfigInput, splitSecrets, withDefaults, type AgentConfig, type AgentConfigInput } from './agentConfig.ts';
import { ApiKeys } from './apiKeys.ts';
import { INSERT_CHANNEL, INSERT_TENANT, TENANT_BY_ID, UPDATE_TENANT } from './provision.sql.ts';
import { checkTenantChange, type Caller, type CurrentTenant } from './settingsRules.ts';
import { modelsOnOperatorKey, resolveLimits, tenantLimitsInput, transcriptionModelsOnOperatorKey, type ModelPolicy, type StoredLimits, type TenantLimits } from './tenantLimits.ts';

/** Days messages are kept (the admin key or the tenant's own: docs/security.md); null keeps them forever. */
const retentionDaysInput = z
  .number()
  .int()
  .min(1)
  .max(36500)
  .nullable()
  .optional()
  .describe('messages older than this many days are removed by housekeeping; null: kept forever');

export const tenantCreateInput = z.strictObject({
  name: z.string().trim().min(1).max(200),
  monthlyMessageLimit: z.number().int().min(0).max(2_000_000_000).nullable().optional(),
  limits: tenantLimitsInput.optional(),
  retentionDays: retentionDaysInput,
  agent: agentConfigInput.optional(),
});

export const tenantPatchInput = z.strictObject({
  name: z.string().trim().min(1).max(200).optional().describe('admin key only'),
  monthlyMessageLimit: z.number().int().min(0).max(2_000_000_000).nullable().optional().describe('admin key only'),
  limits: tenantLimitsInput.optional().describe('admin key only'),
  retentionDays: retentionDaysInput,
  agent: agentConfigInput.optional(),
});

export const channelCreateInput = z.strictObject({
  phoneNumberId: z.string().regex(/^[0-9A-Za-z_.-]{1,64}$/, 'must be 1-64 letters, digits, _ . -'),
  displayPhoneNumber: z.string().trim().min(1).max(32),
  accessToken: z.string().min(1).max(4096),
  appSecret: z.string().min(1).max(1024).optional(),
  verifyToken: z.string().min(1).max(1024).optional(),
  messagesPerSecond: z.number().int().min(1).max(1000).optional(),
  wabaId: z.string().regex(/^[0-9]{1,32}$/, 'must be the WhatsApp Business Account id (digits)').optional().describe('the WhatsApp Business Account: templates are synced from it'),
});

/** The API's view of a tenant: never a secret, only whether one is set. */
export interface TenantView {
  id: string;
  name: string;
  monthlyMessageLimit: number | null;
  /** What only the operator sets; `effectiveAllowed…` is what the tenant may pick on the operator's key now. */
  limits: TenantLimits & { effectiveAllowedModels: string[]; effectiveAllowedTranscriptionModels: string[] };
  /** Days messages are kept; null: forever. */
  retentionDays: number | null;
  /** Disabled: webhooks stored, nothing answered, the tenant's keys refused. */
  disabled: boolean;
  disabledAt: string | null;
  agent: AgentConfig & { hasApiKey: boolean; hasSecret: boolean };
}

export interface ChannelView {
  id: string;
  tenantId: string;
  phoneNumberId: string;
  displayPhoneNumber: string;
  messagesPerSecond: number;
  /** The WhatsApp Business Account its templates are synced from; null when not set. */
  wabaId: string | null;
}

/** A tenants row as TENANT_BY_ID and the writes return it. */
export interface TenantRow {
  id: string;
  name: string;
  monthly_message_limit: number | null;
  agent: Partial<AgentConfig>;
  agent_secrets: { apiKey?: string | null; secret?: string | null };
  allowed_models: string[] | null;
  allowed_transcription_models: string[] | null;
  max_history_length: number | null;
  max_system_prompt_chars: number | null;
  config_version: number;
  retention_days: number | null;
  disabled_at: Date | null;
  deleting_at: Date | null;
}

/** The limits columns of a row. */
export function storedLimits(r: TenantRow): StoredLimits {
  return {
    allowedModels: r.allowed_models,
    allowedTranscriptionModels: r.allowed_transcription_models,
    maxHistoryLength: r.max_history_length,
    maxSystemPromptChars: r.max_system_prompt_chars,
  };
}

/** A change checked against a row that changed meanwhile is checked again, this many times at most. */
const UPDATE_ATTEMPTS = 5;

/** Parses input with a zod schema; a failure is a 400 naming the field. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown): z.infer<T> {
  const r = schema.safeParse(input ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue.path.length ? issue.path.join('.') + ': ' : '';
  throw badRequest('invalid_request', `${where}${issue.message}`);
}

export class Provisioning {
  private readonly keys: ApiKeys;

  /** `egress` judges the URLs a tenant sets (agent `url`, `baseUrl`) before they are saved. */
  constructor(
    private readonly db: Db,
    private readonly secretKey: Buffer,
    private readonly defaultProvider: AgentConfig['provider'],
    private readonly models: ModelPolicy,
    private readonly egress: EgressPolicy,
  ) {
    this.keys = new ApiKeys(db);
  }

  /**
   * Refuses, as a 400 naming the field, a URL the egress policy would not
   * connect to: not https (http only to an allowed destination), or a host
   * that is or resolves to a private address. The same check runs again at
   * every connection, where the answer of DNS may have changed.
   */
  private async checkUrls(agent: AgentConfigInput | undefined): Promise<void> {
    for (const field of ['url', 'baseUrl'] as const) {
      const value = agent?.[field];
      if (value == null) continue;
      try {
        await this.egress.checkUrl(value);
      } catch (err) {
        if (err instanceof EgressRefusedError) throw badRequest('egress_refused', `agent.${field}: ${err.message}`);
        throw err;
      }
    }
  }

  view(r: TenantRow): TenantView {
    const limits = resolveLimits(storedLimits(r));
    return {
      id: r.id,
      name: r.name,
      monthlyMessageLimit: r.monthly_message_limit,
      limits: {
        ...limits,
        effectiveAllowedModels: modelsOnOperatorKey(limits, this.models),
        effectiveAllowedTranscriptionModels: transcriptionModelsOnOperatorKey(limits, this.models),
      },
      retentionDays: r.retention_days,
      disabled: r.disabled_at !== null,
      disabledAt: r.disabled_at ? r.disabled_at.toISOString() : null,
      agent: { ...withDefaults(r.agent, this.defaultProvider), hasApiKey: !!r.agent_secrets.apiKey, hasSecret: !!r.agent_secrets.secret },
    };
  }

  private encryptSecrets(secrets: { apiKey?: string | null; secret?: string | null }): Record<string, string | null> {
    const out: Record<string, string | null> = {};
    for (const [k, v] of Object.entries(secrets)) out[k] = v == null ? null : encrypt(this.secretKey, v);
    return out;
  }

  private current(r: TenantRow): CurrentTenant {
    return {
      name: r.name,
      monthlyMessageLimit: r.monthly_message_limit,
      limits: storedLimits(r),
      agent: withDefaults(r.agent, this.defaultProvider),
      hasApiKey: !!r.agent_secrets.apiKey,
    };
  }

  /** A new tenant (the admin's call): its agent must fit the limits it is given, or the defaults. */
  async createTenant(input: unknown): Promise<TenantView> {
    const t = parseInput(tenantCreateInput, input);
    const blank: CurrentTenant = {
      name: t.name,
      monthlyMessageLimit: null,
      limits: { allowedModels: null, allowedTranscriptionModels: null, maxHistoryLength: null, maxSystemPromptChars: null },
      agent: withDefaults({}, this.defaultProvider),
      hasApiKey: false,
    };
    checkTenantChange('admin', blank, t, this.models);
    await this.checkUrls(t.agent);
    const { plain, secrets } = splitSecrets(t.agent ?? {});
    const l = t.limits ?? {};
    const [row] = await this.db.query<TenantRow>(INSERT_TENANT, [
      t.name,
      t.monthlyMessageLimit ?? null,
      JSON.stringify(plain),
      JSON.stringify(this.encryptSecrets(secrets)),
      l.allowedModels ?? null,
      l.maxHistoryLength ?? null,
      l.maxSystemPromptChars ?? null,
      t.retentionDays ?? null,
      l.allowedTranscriptionModels ?? null,
    ]);
    return this.view(row);
  }

  /**
   * Changes a tenant. `by` says whose key asks: a tenant key may change its
   * agent within its limits, never the admin-only fields (docs/security.md).
   * A refused change writes nothing, not even its allowed fields.
   */
  async updateTenant(tenantId: string, input: unknown, by: Caller): Promise<TenantView> {
    const t = parseInput(tenantPatchInput, input);
    const { plain, secrets } = splitSecrets(t.agent ?? {});
    const l = t.limits ?? {};
    for (let attempt = 1; ; attempt++) {
      const [cur] = await this.db.query<TenantRow>(TENANT_BY_ID, [tenantId]);
      if (!cur || cur.deleting_at) throw notFound('tenant');
      checkTenantChange(by, this.current(cur), t, this.models);
      if (attempt === 1) await this.checkUrls(t.agent);
      const [row] = await this.db.query<TenantRow>(UPDATE_TENANT, [
        tenantId,
        t.name ?? null,
        t.monthlyMessageLimit !== undefined,
        t.monthlyMessageLimit ?? null,
        JSON.stringify(plain),
        JSON.stringify(this.encryptSecrets(secrets)),
        l.allowedModels !== undefined,
        l.allowedModels ?? null,
        l.maxHistoryLength !== undefined,
        l.maxHistoryLength ?? null,
        l.maxSystemPromptChars !== undefined,
        l.maxSystemPromptChars ?? null,
        cur.config_version,
        t.retentionDays !== undefined,
        t.retentionDays ?? null,
        l.allowedTranscriptionModels !== undefined,
        l.allowedTranscriptionModels ?? null,
      ]);
      if (row) return this.view(row);
      if (attempt >= UPDATE_ATTEMPTS) throw conflict('concurrent_update', 'the tenant kept changing while this change was checked; try again');
    }
  }

  async getTenant(tenantId: string): Promise<TenantView> {
    const [row] = await this.db.query<TenantRow>(TENANT_BY_ID, [tenantId]);
    if (!row || row.deleting_at) throw notFound('tenant');
    return this.view(row);
  }

  async addChannel(tenantId: string, input: unknown): Promise<ChannelView> {
    const c = parseInput(channelCreateInput, input);
    await this.getTenant(tenantId);
    const k = this.secretKey;
    const [row] = await this.db.query<{ id: string; tenant_id: string; phone_number_id: string; display_phone_number: string; messages_per_second: number; waba_id: string | null }>(
      INSERT_CHANNEL,
      [tenantId, c.phoneNumberId, c.displayPhoneNumber, encrypt(k, c.accessToken), c.appSecret ? encrypt(k, c.appSecret) : null, c.verifyToken ? encrypt(k, c.verifyToken) : null, c.messagesPerSecond ?? 80, c.wabaId ?? null],
    );
    if (!row) throw conflict('phone_number_taken', `phone number id ${c.phoneNumberId} already has a channel`);
    return { id: row.id, tenantId: row.tenant_id, phoneNumberId: row.phone_number_id, displayPhoneNumber: row.display_phone_number, messagesPerSecond: row.messages_per_second, wabaId: row.waba_id };
  }

  /** A new tenant key; the only time it is ever shown. */
  createApiKey(tenantId: string): Promise<{ id: string; key: string }> {
    return this.keys.create(tenantId);
  }
}

export { AppError };
