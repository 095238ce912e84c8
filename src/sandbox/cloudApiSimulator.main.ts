/**
 * Runs the Cloud API simulator as a process of its own (for the benchmark, so
 * that its work does not share the gateway's event loop). Prints one JSON
 * line `{"url":…}` once it listens; stops on SIGTERM or SIGINT.
 *
 *   cloudApiSimulator.main.ts [--port N] [--webhook-url URL --app-secret S]
 *                             [--latency-ms N] [--status-delays sent,delivered,read | none]
 */
import { parseArgs } from 'node:util';
import { startCloudApiSimulator, type StatusDelays } from './cloudApiSimulator.ts';

const USAGE = `usage: cloudApiSimulator.main.ts [--port N] [--webhook-url URL --app-secret SECRET] [--latency-ms N]
       [--status-delays SENT,DELIVERED,READ]   milliseconds after each send; "-" skips a status, "none" posts none`;

/** Parses "sent,delivered,read" delays; "-" skips one status, "none" all of them. */
function parseStatusDelays(s: string): StatusDelays | null {
  if (s === 'none') return null;
  const parts = s.split(',');
  if (parts.length !== 3) throw new Error(`--status-delays needs three values "sent,delivered,read", got "${s}"`);
  const [sent, delivered, read] = parts.map((p) => {
    if (p.trim() === '-') return null;
    return nonNegativeInt('--status-delays', p);
  });
  return { sent, delivered, read };
}

function nonNegativeInt(name: string, s: string): number {
  if (!/^\s*\d+\s*$/.test(s)) throw new Error(`${name} needs a non-negative integer, got "${s}"`);
  return Number(s);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      'webhook-url': { type: 'string' },
      'app-secret': { type: 'string' },
      'latency-ms': { type: 'string' },
      'status-delays': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const port = values.port === undefined ? 0 : nonNegativeInt('--port', values.port);
  if (port > 65535) throw new Error(`--port must be at most 65535, got ${port}`);
  const sim = await startCloudApiSimulator({
    port,
    webhookUrl: values['webhook-url'],
    appSecret: values['app-secret'],
    latencyMs: values['latency-ms'] === undefined ? 0 : nonNegativeInt('--latency-ms', values['latency-ms']),
    statusDelaysMs: values['status-delays'] === undefined ? undefined : parseStatusDelays(values['status-delays']),
  });
  const stop = () => {
    void sim.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdout.write(JSON.stringify({ url: sim.url }) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`cloud API simulator: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
  process.exit(1);
});
