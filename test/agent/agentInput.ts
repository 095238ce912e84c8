import { EgressPolicy, parseEgressAllow } from '../../src/shared/egress.ts';
import { withDefaults, type AgentConfig } from '../../src/tenancy/agentConfig.ts';
import type { AgentInput, AgentMessage } from '../../src/agent/types.ts';

/** An AgentInput for tests: a fresh signal, the documented defaults under `config`. */
export function agentInput(
  over: Partial<Omit<AgentInput, 'config'>> & { config?: Partial<AgentConfig> } = {},
): AgentInput {
  const { config, ...rest } = over;
  return {
    tenantId: 't-1',
    conversationId: 'c-1',
    config: { ...withDefaults({}, 'openai'), ...config },
    apiKey: null,
    secret: null,
    contact: { waId: '15550001111', userId: null, name: 'Ana' },
    history: [],
    turn: [{ role: 'user', content: 'hello' }],
    signal: new AbortController().signal,
    ...rest,
  };
}

export const user = (content: string): AgentMessage => ({ role: 'user', content });
export const assistant = (content: string): AgentMessage => ({ role: 'assistant', content });

/** An egress policy that allows the origin of these URLs (fake servers on loopback), as WAGATE_EGRESS_ALLOW would. */
export const allowOnly = (...urls: string[]): EgressPolicy => new EgressPolicy({ allow: parseEgressAllow(urls.map((u) => new URL(u).host).join(',')) });
