import type { Config } from '../config/config.ts';
import type { Db } from '../db/db.ts';
import { EgressPolicy } from '../shared/egress.ts';
import { AppError } from '../shared/errors.ts';
import { Provisioning } from '../tenancy/provision.ts';
import { CommandError } from './errors.ts';

/**
 * The same provisioning the admin API uses. `secretKey` may be empty when
 * the command stores no secret (it only encrypts).
 */
export function provisioning(db: Db, config: Config, secretKey: Buffer): Provisioning {
  // As the gateway does: tenants without a provider answer with OpenAI when a key is configured.
  return new Provisioning(
    db,
    secretKey,
    config.openai.apiKey ? 'openai' : 'demo',
    {
      defaultModel: config.openai.model,
      allowedModels: config.allowedModels,
      defaultTranscriptionModel: config.media.transcriptionModel,
      allowedTranscriptionModels: config.media.allowedTranscriptionModels,
    },
    new EgressPolicy({ allow: config.egressAllow }),
  );
}

/**
 * Runs a provisioning call and turns its API errors (missing tenant, taken
 * number) into one-line command errors.
 */
export async function provisioningCall<T>(call: () => Promise<T>, describe: (err: AppError) => string = (e) => e.message): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof AppError) throw new CommandError(describe(err), { cause: err });
    throw err;
  }
}
