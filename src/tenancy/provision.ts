import { z } from 'zod';
import type { Db } from '../db/db.ts';
import { AppError, badRequest, conflict, notFound } from '../shared/errors.ts';
import { encrypt } from '../shared/secrets.ts';
import { agentConfigInput, splitSecrets, withDefaults, type AgentConfig } from './agentConfig.ts';
import { ApiKeys } from './apiKeys.ts';
import { INSERT_CHANNEL, INSERT_TENANT, TENANT_BY_ID, UPDATE_TENANT } from './provision.sql.ts';

export const tenantCreateInput = z.strictObject({
  name: z.string().trim().min(1).max(200),
  monthlyMessageLimit: z.number().int().min(0).max(2_000_000_000).nullable().optional(),
  agent: agentConfigInput.optional(),
});

export const tenantPatchInput = z.strictObject({
  name: z.string().trim().min(1).max(200).optional(),
  monthlyMessageLimit: z.number().int().min(0).max(2_000_000_000).nullable().optional(),
  agent: agentConfigInput.optional(),
});

export const channelCreateInput = z.strictObject({
  phoneNumberId: z.string().regex(/^[0-9A-Za-z_.-]{1,64}$/, 'must be 1-64 letters, digits, _ . -'),
  displayPhoneNumber: z.string().trim().min(1).max(32),
  accessToken: z.string().min(1).max(4096),
  appSecret: z.string().min(1).max(1024).optional(),
  verifyToken: z.string().min(1).max(1024).optional(),
  messagesPerSecond: z.number().int().min(1).max(1000).optional(),
});

/** The API's view of a tenant: never a secret, only whether one is set. */
export interface TenantView {
  id: string;
  name: string;
  monthlyMessageLimit: number | null;
  agent: AgentConfig & { hasApiKey: boolean; hasSecret: boolean };
}

export interface ChannelView {
  id: string;
  tenantId: string;
  phoneNumberId: string;
  displayPhoneNumber: string;
  messagesPerSecond: number;
}

interface TenantRow {
  id: string;
  name: string;
  monthly_message_limit: number | null;
  agent: Partial<AgentConfig>;
  agent_secrets: { apiKey?: string | null; secret?: string | null };
}

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

  constructor(
    private readonly db: Db,
    private readonly secretKey: Buffer,
    private readonly defaultProvider: AgentConfig['provider'],
  ) {
    this.keys = new ApiKeys(db);
  }

  view(r: TenantRow): TenantView {
    return {
      id: r.id,
      name: r.name,
      monthlyMessageLimit: r.monthly_message_limit,
      agent: { ...withDefaults(r.agent, this.defaultProvider), hasApiKey: !!r.agent_secrets.apiKey, hasSecret: !!r.agent_secrets.secret },
    };
  }

  private encryptSecrets(secrets: { apiKey?: string | null; secret?: string | null }): Record<string, string | null> {
    const out: Record<string, string | null> = {};
    for (const [k, v] of Object.entries(secrets)) out[k] = v == null ? null : encrypt(this.secretKey, v);
    return out;
  }

  async createTenant(input: unknown): Promise<TenantView> {
    const t = parseInput(tenantCreateInput, input);
    const { plain, secrets } = splitSecrets(t.agent ?? {});
    const [row] = await this.db.query<TenantRow>(INSERT_TENANT, [t.name, t.monthlyMessageLimit ?? null, JSON.stringify(plain), JSON.stringify(this.encryptSecrets(secrets))]);
    return this.view(row);
  }

  async updateTenant(tenantId: string, input: unknown): Promise<TenantView> {
    const t = parseInput(tenantPatchInput, input);
    const { plain, secrets } = splitSecrets(t.agent ?? {});
    const [row] = await this.db.query<TenantRow>(UPDATE_TENANT, [
      tenantId,
      t.name ?? null,
      t.monthlyMessageLimit !== undefined,
      t.monthlyMessageLimit ?? null,
      JSON.stringify(plain),
      JSON.stringify(this.encryptSecrets(secrets)),
    ]);
    if (!row) throw notFound('tenant');
    return this.view(row);
  }

  async getTenant(tenantId: string): Promise<TenantView> {
    const [row] = await this.db.query<TenantRow>(TENANT_BY_ID, [tenantId]);
    if (!row) throw notFound('tenant');
    return this.view(row);
  }

  async addChannel(tenantId: string, input: unknown): Promise<ChannelView> {
    const c = parseInput(channelCreateInput, input);
    await this.getTenant(tenantId);
    const k = this.secretKey;
    const [row] = await this.db.query<{ id: string; tenant_id: string; phone_number_id: string; display_phone_number: string; messages_per_second: number }>(
      INSERT_CHANNEL,
      [tenantId, c.phoneNumberId, c.displayPhoneNumber, encrypt(k, c.accessToken), c.appSecret ? encrypt(k, c.appSecret) : null, c.verifyToken ? encrypt(k, c.verifyToken) : null, c.messagesPerSecond ?? 80],
    );
    if (!row) throw conflict('phone_number_taken', `phone number id ${c.phoneNumberId} already has a channel`);
    return { id: row.id, tenantId: row.tenant_id, phoneNumberId: row.phone_number_id, displayPhoneNumber: row.display_phone_number, messagesPerSecond: row.messages_per_second };
  }

  /** A new tenant key; the only time it is ever shown. */
  createApiKey(tenantId: string): Promise<{ id: string; key: string }> {
    return this.keys.create(tenantId);
  }
}

export { AppError };
