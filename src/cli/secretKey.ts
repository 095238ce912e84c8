import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, parseSecretKey, type Config } from '../config/config.ts';
import { CommandError } from './errors.ts';

/**
 * The key that encrypts secrets at rest: WAGATE_SECRET_KEY, or, when it is
 * unset, the one the sandbox generated and keeps in `<dataDir>/sandbox.json`,
 * so that provisioning a sandbox's database needs no key by hand.
 * `purpose` says what needs it, for the error.
 */
export async function resolveSecretKey(config: Config, purpose: string): Promise<Buffer> {
  if (config.secretKey.length === 32) return config.secretKey;
  const file = path.resolve(config.dataDir, 'sandbox.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new CommandError(`WAGATE_SECRET_KEY: required to encrypt ${purpose} (32 bytes, as 64 hex characters or base64)`);
  }
  let secretKey: unknown;
  try {
    secretKey = (JSON.parse(text) as { secretKey?: unknown }).secretKey;
  } catch {
    throw new CommandError(`${file}: not valid JSON; set WAGATE_SECRET_KEY instead`);
  }
  if (typeof secretKey !== 'string') throw new CommandError(`${file}: has no secretKey; set WAGATE_SECRET_KEY instead`);
  try {
    return parseSecretKey(secretKey);
  } catch (err) {
    if (err instanceof ConfigError) throw new CommandError(`${file}: secretKey must be 32 bytes, as 64 hex characters or base64`);
    throw err;
  }
}
