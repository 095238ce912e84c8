/**
 * Runs the re-created old pipeline in a process of its own, as the benchmark
 * starts it:
 *
 *   tsx bench/baseline/main.ts --database-url URL --whatsapp-api-url URL \
 *     --model-base-url URL --app-secret S --secret-key HEX [--port 0] [--model M] [--model-api-key K]
 *
 * Prints one JSON line `{"url"}` when it listens; exits 0 on SIGTERM or SIGINT.
 */
import { parseArgs } from 'node:util';
import { parseSecretKey } from '../../src/config/config.ts';
import { startBaseline } from './server.ts';

const usage = 'usage: main.ts --database-url URL --whatsapp-api-url URL --model-base-url URL --app-secret S --secret-key HEX [--port N] [--model M] [--model-api-key K]';

function fail(message: string): never {
  process.stderr.write(`${message}\n${usage}\n`);
  process.exit(2);
}

let values: Record<string, string | undefined>;
try {
  values = parseArgs({
    options: {
      port: { type: 'string' },
      'database-url': { type: 'string' },
      'whatsapp-api-url': { type: 'string' },
      'model-base-url': { type: 'string' },
      'model-api-key': { type: 'string' },
      model: { type: 'string' },
      'app-secret': { type: 'string' },
      'secret-key': { type: 'string' },
    },
    strict: true,
  }).values;
} catch (err) {
  fail((err as Error).message);
}
const required = (name: string): string => values[name] ?? fail(`--${name} is required`);
const port = values.port ?? '0';
if (!/^\d+$/.test(port) || Number(port) > 65535) fail(`--port: must be a whole number from 0 to 65535 (got ${JSON.stringify(port)})`);
let secretKey: Buffer;
try {
  secretKey = parseSecretKey(required('secret-key'));
} catch (err) {
  fail(`--secret-key: must be 32 bytes, as 64 hex characters or base64 (${(err as Error).message})`);
}

const baseline = await startBaseline({
  port: Number(port),
  databaseUrl: required('database-url'),
  whatsappApiUrl: required('whatsapp-api-url').replace(/\/+$/, ''),
  modelBaseUrl: required('model-base-url').replace(/\/+$/, ''),
  modelApiKey: values['model-api-key'] ?? 'bench',
  model: values.model ?? 'bench-model',
  appSecret: required('app-secret'),
  secretKey,
});
process.stdout.write(JSON.stringify({ url: baseline.url }) + '\n');

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await baseline.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
