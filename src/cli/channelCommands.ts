import { readFile } from 'node:fs/promises';
import { isRowId } from '../shared/ids.ts';
import { AuditLog, CLI_ACTOR } from '../tenancy/auditLog.ts';
import { ChannelAdmin } from '../tenancy/channelAdmin.ts';
import { purgeChannel } from '../tenancy/removal.ts';
import { parseFlags, requiredString, tenantIdFlag } from './args.ts';
import { provisioningConfig } from './config.ts';
import { withDatabase } from './database.ts';
import { CommandError, UsageError } from './errors.ts';
import { note, printJson } from './output.ts';
import { provisioningCall } from './provisioning.ts';
import { resolveSecretKey } from './secretKey.ts';

export const CHANNEL_LIST_HELP = `Usage: wagate channel list --tenant ID

Prints a tenant's channels as a JSON array, oldest first: id, phoneNumberId,
displayPhoneNumber, messagesPerSecond. Never a token or secret.

  --tenant ID   the tenant's id
  --help        this text`;

export const CHANNEL_ROTATE_TOKEN_HELP = `Usage: wagate channel rotate-token --id ID --token-file F

Replaces a channel's Cloud API access token with the one in file F (read
from a file so that it never shows in the shell's history or the process
list; a trailing newline is ignored). Stored encrypted with
WAGATE_SECRET_KEY; every running gateway sends with it within a second.

  --id ID           the channel's id (from 'wagate channel list')
  --token-file F    a file holding the new token
  --help            this text`;

export const CHANNEL_REMOVE_HELP = `Usage: wagate channel remove --id ID

Removes a channel: it stops routing at once (its webhooks are acknowledged
as unroutable), then its contacts, conversations and messages are removed in
batches, and the channel last. There is no undo.

  --id ID   the channel's id
  --help    this text`;

function channelId(flags: Record<string, unknown>, command: string): string {
  const id = requiredString(flags as never, 'id', command);
  if (!isRowId(id)) throw new UsageError(`--id must be a channel id (digits), got ${JSON.stringify(id)}`, command);
  return id;
}

const notFoundAs = (what: string) => (e: { code: string; message: string }) => (e.code === 'not_found' ? `${what} not found` : e.message);

/** `wagate channel list`. */
export async function runChannelList(args: string[]): Promise<void> {
  const command = 'wagate channel list';
  const flags = parseFlags(command, args, { tenant: { type: 'string' } });
  if (flags.help) return void process.stdout.write(CHANNEL_LIST_HELP + '\n');
  const tenantId = tenantIdFlag(flags, command);
  const channels = await withDatabase(provisioningConfig(), ({ db }) =>
    provisioningCall(() => new ChannelAdmin(db, Buffer.alloc(0), new AuditLog(db)).list(tenantId), notFoundAs(`tenant ${tenantId}`)),
  );
  printJson(channels);
}

/** `wagate channel rotate-token`. */
export async function runChannelRotateToken(args: string[]): Promise<void> {
  const command = 'wagate channel rotate-token';
  const flags = parseFlags(command, args, { id: { type: 'string' }, 'token-file': { type: 'string' } });
  if (flags.help) return void process.stdout.write(CHANNEL_ROTATE_TOKEN_HELP + '\n');
  const id = channelId(flags, command);
  const file = requiredString(flags, 'token-file', command);
  let token: string;
  try {
    token = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
  } catch (err) {
    throw new CommandError(`cannot read --token-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!token.trim()) throw new UsageError(`--token-file ${file} is empty`, command);
  if (/\s/.test(token)) throw new UsageError(`--token-file ${file} holds more than one token (whitespace inside)`, command);
  const config = provisioningConfig();
  const key = await resolveSecretKey(config, "the channel's access token");
  const channel = await withDatabase(config, ({ db }) =>
    provisioningCall(() => new ChannelAdmin(db, key, new AuditLog(db)).update(id, { accessToken: token }, CLI_ACTOR), notFoundAs(`channel ${id}`)),
  );
  printJson(channel);
  note(`wagate: channel ${id}: access token replaced`);
}

/** `wagate channel remove`. */
export async function runChannelRemove(args: string[]): Promise<void> {
  const command = 'wagate channel remove';
  const flags = parseFlags(command, args, { id: { type: 'string' } });
  if (flags.help) return void process.stdout.write(CHANNEL_REMOVE_HELP + '\n');
  const id = channelId(flags, command);
  const result = await withDatabase(provisioningConfig(), async ({ db }) => {
    const c = await provisioningCall(() => new ChannelAdmin(db, Buffer.alloc(0), new AuditLog(db)).remove(id, CLI_ACTOR), notFoundAs(`channel ${id}`));
    note(`wagate: channel ${id} (${c.displayPhoneNumber}) no longer routes; removing its rows…`);
    return purgeChannel(db, id);
  });
  printJson({ id, removed: result.done, rows: result.rows });
}
