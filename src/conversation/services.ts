import type { AppContext } from '../app/context.ts';
import type { Service } from '../app/gateway.ts';
import { createAgentRegistry } from '../agent/registry.ts';
import { createCloudApi } from '../outbound/cloudApi.ts';
import { Pacer, type PacerOptions } from '../outbound/pacer.ts';
import type { CloudApi } from '../outbound/types.ts';
import { Delivery, type DeliveryOptions } from './delivery.ts';
import { FairLimiter } from './limiter.ts';
import { LEASE_SECONDS, type LeaseTerms } from './leaseBook.ts';
import { ConversationRunner, DEFAULT_RUNNER_OPTIONS, type RunnerOptions } from './runner.ts';
import { TenantDirectory } from './tenants.ts';
import { TurnRunner } from './turn.ts';
import { WorkListener } from './workListener.ts';

/** Tuning knobs of the turn pipeline; tests shorten the waits. */
export interface PipelineOptions {
  /** The runner's pacing, and how long a lease lasts (default LEASE_SECONDS) for every statement that takes or keeps one. */
  runner?: Partial<RunnerOptions> & { leaseSeconds?: number };
  retry?: DeliveryOptions['retry'];
  pacer?: PacerOptions;
  agentBackoffMs?: number;
  /** Share of WAGATE_MAX_INFLIGHT one tenant may use (default 0.5). */
  perTenantShare?: number;
  /** A Cloud API other than WHATSAPP_API_URL's (the sandbox's simulator). */
  cloudApi?: CloudApi;
}

/** The running pipeline: the consumer of ingest and what must stop with the gateway. */
export interface Pipeline {
  runner: ConversationRunner;
  tenants: TenantDirectory;
  cloudApi: CloudApi;
  limiter: FairLimiter;
}

/**
 * Builds the conversation runner and everything behind it (agents, Cloud API
 * client, pacer, limiter) for `startGateway`'s `services` option.
 */
export function createPipeline(ctx: AppContext, opts: PipelineOptions = {}): { pipeline: Pipeline; services: Service[] } {
  const { leaseSeconds = LEASE_SECONDS, ...pacing } = opts.runner ?? {};
  const lease: LeaseTerms = { owner: ctx.leaseOwner, seconds: leaseSeconds };
  const runnerOpts: RunnerOptions = { ...DEFAULT_RUNNER_OPTIONS, maxConversations: Math.max(100, ctx.config.maxInflight * 4), ...pacing };
  const defaultProvider = ctx.config.openai.apiKey ? 'openai' : 'demo';
  const tenants = new TenantDirectory(ctx.db, ctx.config.secretKey, defaultProvider);
  const agents = createAgentRegistry(ctx.config);
  const cloudApi = opts.cloudApi ?? createCloudApi(ctx.config.whatsappApiUrl);
  const pacer = new Pacer(opts.pacer);
  const max = ctx.config.maxInflight;
  const limiter = new FairLimiter(max, Math.max(1, Math.ceil(max * (opts.perTenantShare ?? 0.5))), (count) => ctx.bus.emit('turn.inflight', { count }));
  const turns = new TurnRunner(ctx.db, ctx.bus, ctx.log, lease, tenants, ctx.channels, agents, cloudApi, { agentBackoffMs: opts.agentBackoffMs });
  const delivery = new Delivery(ctx.db, ctx.bus, ctx.log, lease, ctx.channels, cloudApi, pacer, ctx.outboundRows, { retry: opts.retry });
  const runner = new ConversationRunner(ctx.db, ctx.bus, ctx.log, lease, tenants, limiter, turns, delivery, runnerOpts);
  runner.start();
  const listener = new WorkListener(ctx.databaseUrl, ctx.leaseOwner, (id) => runner.onRemoteWork(id), ctx.log, ctx.bus);
  listener.start();
  const services: Service[] = [
    {
      async stop(graceMs) {
        await listener.stop();
        await runner.stop(graceMs);
        pacer.close();
        await agents.close();
        if (!opts.cloudApi) await cloudApi.close();
      },
    },
  ];
  return { pipeline: { runner, tenants, cloudApi, limiter }, services };
}
