/**
 * Runs the fake model in a process of its own, so that a load test's model
 * does not share the gateway's event loop:
 *
 *   tsx bench/fakeModel.main.ts [--port 0] [--latency-ms 0] [--transcription-latency-ms 0]
 *
 * Prints one JSON line `{"url","openaiBaseUrl","httpAgentUrl"}` on stdout when
 * it listens; on SIGTERM or SIGINT prints `{"closed":true,"count","maxConcurrent"}`
 * and exits 0. Requests are not recorded (nobody reads them across processes).
 */
import { parseArgs } from 'node:util';
import { startFakeModel } from './fakeModel.ts';

function wholeNumber(name: string, value: string | undefined, max: number): number {
  if (value === undefined) return 0;
  if (!/^\d+$/.test(value) || Number(value) > max) {
    process.stderr.write(`--${name}: must be a whole number from 0 to ${max} (got ${JSON.stringify(value)})\n`);
    process.exit(2);
  }
  return Number(value);
}

let args: { port?: string; 'latency-ms'?: string; 'transcription-latency-ms'?: string };
try {
  args = parseArgs({ options: { port: { type: 'string' }, 'latency-ms': { type: 'string' }, 'transcription-latency-ms': { type: 'string' } }, strict: true }).values;
} catch (err) {
  process.stderr.write(`${(err as Error).message}\nusage: fakeModel.main.ts [--port N] [--latency-ms N]\n`);
  process.exit(2);
}

const fake = await startFakeModel({
  port: wholeNumber('port', args.port, 65535),
  latencyMs: wholeNumber('latency-ms', args['latency-ms'], 600_000),
  transcriptionLatencyMs: wholeNumber('transcription-latency-ms', args['transcription-latency-ms'], 600_000),
  record: false,
});
process.stdout.write(JSON.stringify({ url: fake.url, openaiBaseUrl: fake.openaiBaseUrl, httpAgentUrl: fake.httpAgentUrl }) + '\n');

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await fake.close();
  process.stdout.write(JSON.stringify({ closed: true, count: fake.count, maxConcurrent: fake.maxConcurrent }) + '\n');
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
