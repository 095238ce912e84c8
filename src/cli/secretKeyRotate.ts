import { readFile } from 'node:fs/promises';
import { ConfigError, parseSecretKey } from '../config/config.ts';
import { keyId } from '../shared/secrets.ts';
import { rotateSecrets } from '../tenancy/rotateSecrets.ts';
import { optionalWholeNumber, parseFlags, requiredString } from './args.ts';
import { provisioningConfig } from './config.ts';
import { withDatabase } from './database.ts';
import { CommandError, UsageError } from './errors.ts';
import { note, printJson } from './output.ts';

const COMMAND = 'wagate secret-key rotate';

export const SECRET_KEY_ROTATE_HELP = `Usage: wagate secret-key rotate --new-key-file PATH [--batch-size N]

Re-encrypts every stored secret (channel access tokens, app secrets and
verify tokens, tenants' model keys and signing secrets, the key canary) with
a new key, in batches, each in its own transaction, while gateways keep
running. The secrets are read with WAGATE_SECRET_KEY (and
WAGATE_SECRET_KEY_PREVIOUS when set); secrets already under the new key are
left alone, so an interrupted run is finished by running it again. Prints
{"keyId","rewritten","alreadyNew"}. See docs/security.md, "Rotating keys",
for the steps that keep every gateway running.

  --new-key-file PATH   a file holding the new key: 32 bytes, as 64 hex
                        characters or base64 (e.g. openssl rand -hex 32 > PATH)
  --batch-size N        rows per transaction (default 100, 1 to 10000)
  --help                this text`;

/** `wagate secret-key rotate`. */
export async function runSecretKeyRotate(args: string[]): Promise<void> {
  const flags = parseFlags(COMMAND, args, { 'new-key-file': { type: 'string' }, 'batch-size': { type: 'string' } });
  if (flags.help) {
    process.stdout.write(SECRET_KEY_ROTATE_HELP + '\n');
    return;
  }
  const file = requiredString(flags, 'new-key-file', COMMAND);
  const batchSize = optionalWholeNumber(flags, 'batch-size', COMMAND) ?? 100;
  if (batchSize < 1 || batchSize > 10_000) throw new UsageError(`--batch-size must be between 1 and 10000, got ${batchSize}`, COMMAND);
  const config = provisioningConfig();
  if (config.secretKey.length !== 32) throw new CommandError('WAGATE_SECRET_KEY: required: the key the stored secrets are encrypted with now');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CommandError(`--new-key-file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let newKey: Buffer;
  try {
    newKey = parseSecretKey(text, '--new-key-file');
  } catch (err) {
    throw err instanceof ConfigError ? new CommandError(err.message) : err;
  }
  const oldKeys = config.previousSecretKey ? [config.secretKey, config.previousSecretKey] : [config.secretKey];
  if (oldKeys.some((k) => k.equals(newKey)) && !config.previousSecretKey) {
    throw new CommandError('--new-key-file: holds WAGATE_SECRET_KEY itself; give the new key (and the old one as WAGATE_SECRET_KEY or WAGATE_SECRET_KEY_PREVIOUS)');
  }
  const report = await withDatabase(config, ({ db }) => rotateSecrets(db, oldKeys, newKey, batchSize));
  printJson(report);
  note(`wagate: every stored secret is now encrypted with key ${keyId(newKey)}; start gateways with it as WAGATE_SECRET_KEY`);
}
