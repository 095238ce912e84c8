import type { Db } from '../db/db.ts';
import { decrypt, type SecretKeys } from '../shared/secrets.ts';
import { withDefaults, type AgentConfig } from './agentConfig.ts';
import { TENANT_SETTINGS } from './provision.sql.ts';
import { toTenantTools, type TenantTool, type TenantToolRow } from './tools.ts';
import { clampAgent, resolveLimits, type ModelPolicy } from './tenantLimits.ts';

/** What a turn needs of its tenant, secrets decrypted. */
export interface TenantSettings {
  id: string;
  version: number;
  /** Clamped to the tenant's limits in force (src/tenancy/tenantLimits.ts, clampAgent). */
  agent: AgentConfig;
  monthlyMessageLimit: number | null;
  apiKey: string | null;
  secret: string | null;
  /** Disabled by the operator: turns settle tenant_disabled without an agent call. */
  disabled: boolean;
  /** The enabled tools (docs/tools.md), secrets decrypted and validators compiled. */
  tools: TenantTool[];
}

const MAX_AGE_MS = 60_000;

const currentMonth = () => new Date().toISOString().slice(0, 7);

/**
 * Tenant settings by id, cached. Ingest returns each tenant's config_version,
 * so a change made by any process is picked up at the next message without a
 * read per message.
 */
export class TenantDirectory {
  private readonly cache = new Map<string, { at: number; settings: Promise<TenantSettings> }>();
  private readonly usage = new Map<string, { month: string; count: number }>();

  constructor(
    private readonly db: Db,
    /** WAGATE_SECRET_KEY, and WAGATE_SECRET_KEY_PREVIOUS during a rotation. */
    private readonly secretKey: SecretKeys,
    private readonly defaultProvider: AgentConfig['provider'],
    private readonly models: ModelPolicy,
  ) {}

  async get(tenantId: string, minVersion = 0): Promise<TenantSettings> {
    const hit = this.cache.get(tenantId);
    if (hit && Date.now() - hit.at < MAX_AGE_MS) {
      const s = await hit.settings;
      if (s.version >= minVersion) return s;
    }
    const settings = this.load(tenantId);
    this.cache.set(tenantId, { at: Date.now(), settings });
    settings.catch(() => this.cache.delete(tenantId));
    return settings;
  }

  /**
   * Records a tenant's answer count this month, as a statement saw it. Turns
   * use it to skip the agent call once the limit is reached; the reply commit
   * stays the exact check (another process may have answered since).
   */
  noteUsage(tenantId: string, count: number): void {
    const month = currentMonth();
    const u = this.usage.get(tenantId);
    if (!u || u.month !== month) this.usage.set(tenantId, { month, count });
    else if (count > u.count) u.count = count;
  }

  /** Whether the known answer count already reaches `limit` this month. */
  limitReached(tenantId: string, limit: number | null): boolean {
    if (limit === null) return false;
    const u = this.usage.get(tenantId);
    return u !== undefined && u.month === currentMonth() && u.count >= limit;
  }

  /** Forgets a tenant after it changed in this process. */
  invalidate(tenantId: string): void {
    this.cache.delete(tenantId);
  }

  private async load(tenantId: string): Promise<TenantSettings> {
    const [r] = await this.db.query<{
      id: string;
      agent: Partial<AgentConfig>;
      agent_secrets: { apiKey?: string | null; secret?: string | null };
      monthly_message_limit: number | null;
      allowed_models: string[] | null;
      allowed_transcription_models: string[] | null;
      max_history_length: number | null;
      max_system_prompt_chars: number | null;
      config_version: number;
      disabled_at: Date | null;
      deleting_at: Date | null;
      tools: TenantToolRow[];
    }>(TENANT_SETTINGS, [tenantId]);
    if (!r) throw new Error(`tenant ${tenantId} not found`);
    const k = this.secretKey;
    const apiKey = r.agent_secrets.apiKey ? decrypt(k, r.agent_secrets.apiKey) : null;
    const limits = resolveLimits({
      allowedModels: r.allowed_models,
      allowedTranscriptionModels: r.allowed_transcription_models,
      maxHistoryLength: r.max_history_length,
      maxSystemPromptChars: r.max_system_prompt_chars,
    });
    return {
      id: r.id,
      version: r.config_version,
      agent: clampAgent(withDefaults(r.agent, this.defaultProvider), apiKey !== null, limits, this.models),
      monthlyMessageLimit: r.monthly_message_limit,
      apiKey,
      secret: r.agent_secrets.secret ? decrypt(k, r.agent_secrets.secret) : null,
      disabled: r.disabled_at !== null || r.deleting_at !== null,
      tools: toTenantTools(r.tools, k),
    };
  }
}
