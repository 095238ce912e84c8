import { parseArgs } from 'node:util';
import pino from 'pino';
import { loadConfig, type Config } from '../config/config.ts';
import { startGateway, type Gateway } from '../app/gateway.ts';
import { loadSandboxState } from '../sandbox/setup.ts';
import { loadEnv } from '../config/env.ts';

const HELP = `Usage: wagate start [--sandbox]

Starts the gateway: HTTP server, webhooks, operator API, conversation runner.
Configuration comes from the environment (and a .env file); see the README.

  --sandbox   embedded PostgreSQL, a demo tenant and channel, the built-in
              WhatsApp simulator and the demo agent (or OPENAI_API_KEY's model);
              no Meta or OpenAI account needed
  --help      this text`;

/** `wagate start`: runs until SIGTERM or SIGINT, then shuts down cleanly and exits 0. */
export async function runStart(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { sandbox: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } }, strict: true });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const gw = values.sandbox ? await startSandbox() : await startProduction();
  const stop = (signal: string) => {
    gw.log.info({ signal }, 'shutting down');
    gw.stop().then(
      () => process.exit(0),
      (err) => {
        gw.log.error({ err }, 'shutdown failed');
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
  const gw = await startGateway(config, { log });
  // stdout carries JSON lines only, for log collectors.
  log.info({ url: gw.url }, 'wagate listening');
  return gw;
}

async function startSandbox(): Promise<Gateway> {
  const env = loadEnv();
  const dataDir = env.WAGATE_DATA_DIR ?? './data';
  // The sandbox's own keys, made once per data directory, unless the environment names others.
  const state = await loadSandboxState(dataDir);
  const config: Config = loadConfig(
    { WAGATE_ADMIN_KEY: state.adminKey, WAGATE_SECRET_KEY: state.secretKey, ...env, WAGATE_DATA_DIR: dataDir },
    { sandbox: true },
  );
  const log = pino({ level: config.logLevel });
  const gw = await startGateway(config, { log });
  const base = gw.url.replace('127.0.0.1', 'localhost');
  // stdout carries JSON lines only; the banner, keys included, is for the person at the terminal: stderr.
  log.info({ url: gw.url, dashboard: `${base}/`, simulator: `${base}/sandbox` }, 'wagate sandbox is running');
  process.stderr.write(
    [
      '',
      'wagate sandbox is running',
      `  dashboard:  ${base}/`,
      `  simulator:  ${base}/sandbox   (write as a customer of the demo channel)`,
      `  sign in with the demo tenant key: ${gw.sandbox?.demo?.tenantKey}`,
      `  admin key (every tenant, /metrics): ${env.WAGATE_ADMIN_KEY ? 'the one in WAGATE_ADMIN_KEY' : state.adminKey}`,
      `  agent: ${config.openai.apiKey ? `OpenAI-compatible model ${config.openai.model}` : 'the built-in demo agent (set OPENAI_API_KEY to use a model)'}`,
      '',
    ].join('\n') + '\n',
  );
  return gw;
}
