import { loadConfig, type Config } from '../config/config.ts';
import { loadEnv } from '../config/env.ts';

/**
 * The configuration of the provisioning commands (migrate, tenant, channel,
 * key). They need only the database (DATABASE_URL or WAGATE_DATA_DIR) and, to
 * encrypt, WAGATE_SECRET_KEY: the server's own required variables are relaxed
 * as in sandbox mode, but every variable that is set is still validated.
 */
export function provisioningConfig(): Config {
  return loadConfig(loadEnv(), { sandbox: true });
}
