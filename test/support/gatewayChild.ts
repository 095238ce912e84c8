/**
 * A gateway with its conversation pipeline in a process of its own, for the
 * tests that kill a process (SIGKILL at any point) or run two processes on
 * one database:
 *
 *   node --import tsx test/support/gatewayChild.ts
 *
 * Configured by the environment like `wagate start` (DATABASE_URL,
 * WHATSAPP_API_URL, OPENAI_BASE_URL, the secrets, PORT …), plus test-speed
 * knobs read only here:
 * - WAGATE_TEST_SWEEP_MS: how often abandoned work is looked for (default 200);
 * - WAGATE_TEST_LEASE_SECONDS: the runner's lease (default 15);
 * - WAGATE_TEST_RENEW_MS: how often held leases are renewed (default 1,000);
 * - WAGATE_TEST_RETRY_BASE_MS: base of the send backoff (default 20).
 *
 * Prints one JSON line `{"url","leaseOwner","pid"}` on stdout once it
 * listens. SIGTERM or SIGINT shut it down as `wagate start` does (webhooks
 * 503, running turns finish within WAGATE_SHUTDOWN_GRACE_MS, leases given
 * back) and it exits 0, or 1 if shutting down failed.
 *
 * With WAGATE_TEST_ENTRY=start it runs `wagate start`'s own code instead
 * (production defaults and its own signal handling) and prints what that
 * prints: give it a PORT and wait for /readyz.
 */
import pino from 'pino';
import { loadConfig } from '../../src/config/config.ts';
import { startGateway } from '../../src/app/gateway.ts';

function whole(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  if (!/^\d+$/.test(v)) {
    process.stderr.write(`${name}: must be a whole number (got ${JSON.stringify(v)})\n`);
    process.exit(2);
  }
  return Number(v);
}

async function startWithTestKnobs(): Promise<void> {
  const sweepIntervalMs = whole('WAGATE_TEST_SWEEP_MS', 200);
  const leaseSeconds = whole('WAGATE_TEST_LEASE_SECONDS', 15);
  const renewIntervalMs = whole('WAGATE_TEST_RENEW_MS', 1_000);
  const retryBaseMs = whole('WAGATE_TEST_RETRY_BASE_MS', 20);
  const config = loadConfig(process.env);
  // Logs go to stderr: stdout carries the one JSON line the parent waits for.
  const log = pino({ level: config.logLevel }, pino.destination(2));
  const gw = await startGateway(config, {
    log,
    timings: {
      runner: { sweepIntervalMs, leaseSeconds, renewIntervalMs },
      retry: { baseMs: retryBaseMs, maxMs: retryBaseMs * 10 },
      pacer: { pairBackoffUnitMs: 5 },
      agentBackoffMs: 10,
    },
  });
  process.stdout.write(JSON.stringify({ url: gw.url, leaseOwner: gw.leaseOwner, pid: process.pid }) + '\n');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    gw.stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (process.env.WAGATE_TEST_ENTRY === 'start') {
  const { runStart } = await import('../../src/cli/start.ts');
  await runStart([]);
} else {
  await startWithTestKnobs();
}
