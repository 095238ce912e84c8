import type { GatewayOverrides, PipelineTimings } from '../../src/app/overrides.ts';
import type { EgressLookup } from '../../src/shared/egress.ts';
import { startCloudApiSimulator, type CloudApiSimulator, type SimulatorOptions } from '../../src/sandbox/cloudApiSimulator.ts';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { startTestGateway, TEST_APP_SECRET, type TestGateway } from './gateway.ts';

/** Test-speed defaults: short retries and sweeps, same logic. */
export const FAST: PipelineTimings = {
  runner: { sweepIntervalMs: 200, renewIntervalMs: 1_000, leaseSeconds: 15 },
  retry: { baseMs: 20, maxMs: 200, retryForMs: 0 },
  pacer: { pairBackoffUnitMs: 5 },
  agentBackoffMs: 10,
};

export interface PipelineHarness {
  gw: TestGateway;
  cloud: CloudApiSimulator;
  model: FakeModel;
  close(): Promise<void>;
}

/**
 * A gateway that answers: the conversation runner against a Cloud API
 * simulator (posting statuses back, unless told otherwise) and a fake model.
 */
export async function startPipeline(
  opts: {
    env?: Record<string, string>;
    pipeline?: PipelineTimings;
    simulator?: SimulatorOptions;
    dbUrl?: string;
    cloud?: CloudApiSimulator;
    model?: FakeModel;
    /** Let tenants set the fake model's URL as their own (WAGATE_EGRESS_ALLOW=127.0.0.1:<its port>); default: the strict policy. */
    allowModelEgress?: boolean;
    /** How the egress policy resolves names (default: the system resolver). */
    egressLookup?: EgressLookup;
    /** The gateway's logger (default: silent unless TEST_LOG_LEVEL). */
    log?: GatewayOverrides['log'];
    /** A media store instead of the configured one. */
    mediaStore?: GatewayOverrides['mediaStore'];
  } = {},
): Promise<PipelineHarness> {
  const model = opts.model ?? (await startFakeModel());
  const cloud = opts.cloud ?? (await startCloudApiSimulator({ statusDelaysMs: null, ...opts.simulator }));
  const gw = await startTestGateway({
    dbUrl: opts.dbUrl,
    env: {
      WHATSAPP_API_URL: cloud.url + '/v25.0',
      OPENAI_BASE_URL: model.openaiBaseUrl,
      OPENAI_API_KEY: 'sk-test',
      ...(opts.allowModelEgress ? { WAGATE_EGRESS_ALLOW: new URL(model.url).host } : {}),
      ...opts.env,
    },
    answer: true,
    egressLookup: opts.egressLookup,
    ...(opts.log ? { log: opts.log } : {}),
    ...(opts.mediaStore ? { mediaStore: opts.mediaStore } : {}),
    timings: { ...FAST, ...opts.pipeline, runner: { ...FAST.runner, ...opts.pipeline?.runner } },
  });
  return {
    gw,
    cloud,
    model,
    async close() {
      await gw.stop();
      if (!opts.cloud) await cloud.close();
      if (!opts.model) await model.close();
    },
  };
}

/** Waits until `check` returns a truthy value, polling; fails after `timeoutMs`. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 15_000, what = 'condition'): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export { TEST_APP_SECRET };
