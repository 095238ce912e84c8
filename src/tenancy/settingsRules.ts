import { AppError, badRequest, forbidden } from '../shared/errors.ts';
import type { AgentConfig, AgentConfigInput } from './agentConfig.ts';
import {
  mergeLimits,
  modelsOnOperatorKey,
  paysOperator,
  resolveLimits,
  transcriptionModelsOnOperatorKey,
  transcriptionPaysOperator,
  type ModelPolicy,
  type StoredLimits,
  type TenantLimits,
  type TenantLimitsInput,
} from './tenantLimits.ts';

/** Who asks for a change: the operator's admin key, or the tenant's own key. */
export type Caller = 'admin' | 'tenant';

/** A tenant as the rules see it before a change. */
export interface CurrentTenant {
  name: string;
  monthlyMessageLimit: number | null;
  limits: StoredLimits;
  /** With defaults filled in. */
  agent: AgentConfig;
  hasApiKey: boolean;
}

/** The change asked for (the create and patch inputs both fit). */
export interface TenantChange {
  name?: string;
  monthlyMessageLimit?: number | null;
  limits?: TenantLimitsInput;
  agent?: AgentConfigInput;
}

const sameList = (a: readonly string[] | null, b: readonly string[] | null) =>
  a === null || b === null ? a === b : a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The admin-only fields a change would move. A field sent with the value it
 * already has is no change, so a client may send back what it read.
 */
function adminFieldsChanged(current: CurrentTenant, change: TenantChange): string[] {
  const moved: string[] = [];
  if (change.name !== undefined && change.name !== current.name) moved.push('name');
  if (change.monthlyMessageLimit !== undefined && change.monthlyMessageLimit !== current.monthlyMessageLimit) moved.push('monthlyMessageLimit');
  const l = change.limits;
  if (l) {
    const before = resolveLimits(current.limits);
    const after = resolveLimits(mergeLimits(current.limits, l));
    if (l.allowedModels !== undefined && !sameList(l.allowedModels, current.limits.allowedModels)) moved.push('limits.allowedModels');
    if (l.allowedTranscriptionModels !== undefined && !sameList(l.allowedTranscriptionModels, current.limits.allowedTranscriptionModels)) {
      moved.push('limits.allowedTranscriptionModels');
    }
    if (l.maxHistoryLength !== undefined && after.maxHistoryLength !== before.maxHistoryLength) moved.push('limits.maxHistoryLength');
    if (l.maxSystemPromptChars !== undefined && after.maxSystemPromptChars !== before.maxSystemPromptChars) moved.push('limits.maxSystemPromptChars');
  }
  return moved;
}

/**
 * Checks a change against docs/security.md ("What a tenant may change")
 * before anything is written, so a refused request changes nothing:
 *
 * - a tenant key may not move `name`, `monthlyMessageLimit` or `limits` (403);
 * - `historyLength` and `systemPrompt` must fit the tenant's ceilings (400),
 *   which the same request may raise when the admin sends it;
 * - on the operator's model key, `model` must be one the tenant may use (400
 *   `model_not_allowed`); with its own key or base URL any model goes;
 * - the same for `transcriptionModel` against the transcription models
 *   (docs/media.md), where only the `openai` provider's own key or base URL
 *   counts, as only it transcribes there.
 *
 * Only what the change moves is checked: a value saved before the operator
 * lowered a ceiling does not block unrelated changes (turns clamp it).
 */
export function checkTenantChange(by: Caller, current: CurrentTenant, change: TenantChange, policy: ModelPolicy): void {
  if (by === 'tenant') {
    const moved = adminFieldsChanged(current, change);
    if (moved.length > 0) throw forbidden(`${moved.join(', ')}: only the operator's admin key may change ${moved.length > 1 ? 'these' : 'this'}`);
  }
  const limits = resolveLimits(mergeLimits(current.limits, change.limits));
  const a = change.agent ?? {};
  const raise = by === 'tenant' ? ' (ask the operator to raise it)' : '';
  if (a.historyLength !== undefined && a.historyLength !== current.agent.historyLength && a.historyLength > limits.maxHistoryLength) {
    throw badRequest('invalid_request', `agent.historyLength: must be at most ${limits.maxHistoryLength}, the tenant's limits.maxHistoryLength${raise}`);
  }
  if (a.systemPrompt !== undefined && a.systemPrompt !== current.agent.systemPrompt && a.systemPrompt.length > limits.maxSystemPromptChars) {
    throw badRequest('invalid_request', `agent.systemPrompt: must be at most ${limits.maxSystemPromptChars} characters, the tenant's limits.maxSystemPromptChars${raise}`);
  }
  checkModel(current, a, limits.allowedModels, policy);
  checkTranscriptionModel(current, a, limits, policy);
}

/** The transcription model rule, checked when the change touches that model or who pays for transcriptions. */
function checkTranscriptionModel(current: CurrentTenant, a: AgentConfigInput, limits: TenantLimits, policy: ModelPolicy): void {
  const touched =
    (a.transcriptionModel !== undefined && a.transcriptionModel !== current.agent.transcriptionModel) ||
    (a.provider !== undefined && a.provider !== current.agent.provider) ||
    (a.baseUrl !== undefined && a.baseUrl !== current.agent.baseUrl) ||
    (a.apiKey !== undefined && (a.apiKey !== null || current.hasApiKey));
  if (!touched) return;
  const model = a.transcriptionModel !== undefined ? a.transcriptionModel : current.agent.transcriptionModel;
  // null: no transcription; '' or never set: the process's default.
  if (!model) return;
  const agent = {
    provider: a.provider ?? current.agent.provider,
    baseUrl: a.baseUrl !== undefined ? a.baseUrl : current.agent.baseUrl,
  };
  const hasApiKey = a.apiKey !== undefined ? a.apiKey !== null : current.hasApiKey;
  if (!transcriptionPaysOperator(agent, hasApiKey)) return;
  const allowed = transcriptionModelsOnOperatorKey(limits, policy);
  if (allowed.includes(model)) return;
  throw new AppError(
    400,
    'model_not_allowed',
    `agent.transcriptionModel: ${JSON.stringify(model)} is not allowed on the operator's model key (allowed: ${allowed.join(', ') || 'none'}); ` +
      'send "" for the default transcription model, null for none, or, with the openai provider, set your own apiKey or baseUrl',
  );
}

/** The model rule, checked when the change touches the model or who pays for it. */
function checkModel(current: CurrentTenant, a: AgentConfigInput, allowedModels: string[] | null, policy: ModelPolicy): void {
  const touched =
    (a.model !== undefined && a.model !== current.agent.model) ||
    (a.provider !== undefined && a.provider !== current.agent.provider) ||
    (a.baseUrl !== undefined && a.baseUrl !== current.agent.baseUrl) ||
    (a.apiKey !== undefined && (a.apiKey !== null || current.hasApiKey));
  if (!touched) return;
  const model = a.model !== undefined ? a.model : current.agent.model;
  const baseUrl = a.baseUrl !== undefined ? a.baseUrl : current.agent.baseUrl;
  const hasApiKey = a.apiKey !== undefined ? a.apiKey !== null : current.hasApiKey;
  if (model === null || !paysOperator({ baseUrl }, hasApiKey)) return;
  const allowed = modelsOnOperatorKey({ allowedModels }, policy);
  if (allowed.includes(model)) return;
  throw new AppError(
    400,
    'model_not_allowed',
    `agent.model: ${JSON.stringify(model)} is not allowed on the operator's model key (allowed: ${allowed.join(', ')}); ` +
      'send null for the default model, or set your own apiKey or baseUrl',
  );
}
