import { parseFlags } from './args.ts';
import { provisioningConfig } from './config.ts';
import { withDatabase } from './database.ts';

const COMMAND = 'wagate migrate';

export const MIGRATE_HELP = `Usage: wagate migrate

Applies the database migrations not yet applied (each in its own transaction,
under a lock, so it is safe while gateways run) and prints their names.
The database is DATABASE_URL (reached over DATABASE_DIRECT_URL when set: the
lock needs a session, which a transaction-mode pooler does not keep), or the
embedded PostgreSQL in WAGATE_DATA_DIR (the running gateway's, or one started
for the command and stopped after it).

  --help   this text`;

/** `wagate migrate`. */
export async function runMigrate(args: string[]): Promise<void> {
  const flags = parseFlags(COMMAND, args, {});
  if (flags.help) {
    process.stdout.write(MIGRATE_HELP + '\n');
    return;
  }
  const migrated = await withDatabase(provisioningConfig(), async (d) => d.migrated);
  if (migrated.length === 0) process.stdout.write('the database is up to date\n');
  for (const name of migrated) process.stdout.write(`applied ${name}\n`);
}
