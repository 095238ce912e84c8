import type { Config } from '../config/config.ts';
import type { EgressPolicy } from '../shared/egress.ts';
import type { AgentConfig } from '../tenancy/agentConfig.ts';
import { DemoAgent } from './demo.ts';
import { HttpAgent } from './http.ts';
import { OpenAiAgent } from './openai.ts';
import { createAgentDispatcher } from './postJson.ts';
import { AgentError, type Agent } from './types.ts';

/** The providers of the process, one instance each, sharing the keep-alive dispatchers. */
export interface AgentRegistry {
  /** The provider named by a tenant's `config.provider`. */
  agentFor(provider: AgentConfig['provider']): Agent;
  /** Closes the shared connections: calls still running finish, new ones fail with `agent_closed`. */
  close(): Promise<void>;
}

/**
 * Builds the providers once at start. They hold no tenant or request state:
 * everything tenant-specific (URL, key, secret, model) comes with each call's
 * input, so one instance of each serves every tenant at once.
 *
 * Two keep-alive dispatchers: one for the process's own model URL
 * (OPENAI_BASE_URL, trusted as the operator set it), and one through the
 * egress policy for every URL a tenant sets (an `openai` baseUrl, an `http`
 * url).
 */
export function createAgentRegistry(config: Pick<Config, 'openai'>, opts: { egress: EgressPolicy }): AgentRegistry {
  const trusted = createAgentDispatcher();
  const tenants = createAgentDispatcher({ egress: opts.egress });
  const agents: Record<AgentConfig['provider'], Agent> = {
    openai: new OpenAiAgent(config.openai, { dispatcher: trusted, tenantDispatcher: tenants }),
    http: new HttpAgent({ dispatcher: tenants }),
    demo: new DemoAgent(),
  };
  let closing: Promise<void> | null = null;
  return {
    agentFor(provider) {
      const agent = Object.hasOwn(agents, provider) ? agents[provider] : undefined;
      if (!agent) throw new AgentError('agent_unknown_provider', `no agent provider named ${JSON.stringify(provider)}`, false);
      return agent;
    },
    close() {
      closing ??= Promise.all([trusted.close(), tenants.close()]).then(() => undefined);
      return closing;
    },
  };
}
