import { parseArgs } from 'node:util';
import pino from 'pino';
import { loadConfig, type Config } from '../config/config.ts';
import { startGateway, type Gateway } from '../app/gateway.ts';
import type { RoutePlugin } from '../app/server.ts';
import { createPipeline } from '../conversation/services.ts';
import { metricsPlugin } from '../metrics/metrics.ts';
import { operatorPlugins } from '../api/operatorPlugins.ts';
import { createCloudApi } from '../outbound/cloudApi.ts';
import { startCloudApiSimulator, type CloudApiSimulator } from '../sandbox/cloudApiSimulator.ts';
import { ensureDemoTenant, loadSandboxState } from '../sandbox/setup.ts';
import { loadEnv } from '../config/env.ts';

const HELP = `Usage: wagate start [--sandbox]

Starts the gateway: HTTP server, webhooks, operator API, conversation runner.
Configuration comes from the environment (and a .env file); see the README.

  --sandbox   embedded PostgreSQL, a demo tenant and channel, the built-in
              WhatsApp simulator and the demo agent (or OPENAI_API_KEY's model);
              no Meta or OpenAI account needed
  --help      this text`;

/** Extra route sets the other stages contribute (operator API, dashboard, sandbox page). */
export const extraPlugins: RoutePlugin[] = [metricsPlugin, ...operatorPlugins];

/** `wagate start`: runs until SIGTERM or SIGINT, then shuts down cleanly and exits 0. */
export async function runStart(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { sandbox: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } }, strict: true });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const gw = values.sandbox ? await startSandbox() : await startProduction();
  const stop = (signal: string) => {
    gw.ctx.log.info({ signal }, 'shutting down');
    gw.stop().then(
      () => process.exit(0),
      (err) => {
        gw.ctx.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

async function startProduction(): Promise<Gateway> {
  const config = loadConfig(loadEnv());
  const log = pino({ level: config.logLevel });
  const gw = await startGateway(config, {
    log,
    plugins: extraPlugins,
    services: async (ctx) => {
      const { pipeline, services } = createPipeline(ctx);
      ctx.pipeline = pipeline;
      return { consumer: pipeline.runner, services };
    },
  });
  log.info({ url: gw.url }, 'wagate listening');
  console.log(`wagate listening on ${gw.url}`);
  return gw;
}

async function startSandbox(): Promise<Gateway> {
  const env = loadEnv();
  const dataDir = env.WAGATE_DATA_DIR ?? './data';
  const state = await loadSandboxState(dataDir);
  const config: Config = loadConfig(
    { WAGATE_ADMIN_KEY: state.adminKey, WAGATE_SECRET_KEY: state.secretKey, ...env, WAGATE_DATA_DIR: dataDir },
    { sandbox: true },
  );
  const log = pino({ level: config.logLevel });
  let simulator: CloudApiSimulator | null = null;
  const gw = await startGateway(config, {
    log,
    plugins: extraPlugins,
    services: async (ctx) => {
      // The simulator answers the Cloud API calls and posts statuses back through the signed webhook.
      simulator = await startCloudApiSimulator({
        webhookUrl: `http://127.0.0.1:${config.port}/webhooks/whatsapp`,
        appSecret: config.whatsappAppSecret!,
        statusDelaysMs: { sent: 50, delivered: 400, read: 1500 },
      });
      ctx.sandbox = { simulator };
      const { pipeline, services } = createPipeline(ctx, { cloudApi: createCloudApi(simulator.url + '/v25.0') });
      ctx.pipeline = pipeline;
      const sim = simulator;
      return {
        consumer: pipeline.runner,
        services: [...services, { stop: async () => { await pipeline.cloudApi.close(); await sim.close(); } }],
      };
    },
  });
  const demo = await ensureDemoTenant(gw.ctx.db, gw.ctx.provisioning, dataDir, state, config.openai.apiKey ? 'openai' : 'demo');
  const base = gw.url.replace('127.0.0.1', 'localhost');
  console.log(
    [
      '',
      'wagate sandbox is running',
      `  dashboard:  ${base}/`,
      `  simulator:  ${base}/sandbox   (write as a customer of the demo channel)`,
      `  sign in with the demo tenant key: ${demo.tenantKey}`,
      `  admin key (every tenant, /metrics): ${state.adminKey}`,
      `  agent: ${config.openai.apiKey ? `OpenAI-compatible model ${config.openai.model}` : 'the built-in demo agent (set OPENAI_API_KEY to use a model)'}`,
      '',
    ].join('\n'),
  );
  return gw;
}
