import pino from 'pino';
import { createCloudApi } from '../outbound/cloudApi.ts';
import { TemplateSync } from '../outbound/templateSync.ts';
import { isRowId } from '../shared/ids.ts';
import { ChannelDirectory } from '../tenancy/channels.ts';
import { optionalString, parseFlags } from './args.ts';
import { provisioningConfig } from './config.ts';
import { withDatabase } from './database.ts';
import { CommandError, UsageError } from './errors.ts';
import { printJson } from './output.ts';
import { provisioningCall } from './provisioning.ts';
import { resolveSecretKey } from './secretKey.ts';

const COMMAND = 'wagate templates sync';

export const TEMPLATES_SYNC_HELP = `Usage: wagate templates sync [--tenant ID] [--channel ID]

Lists the message templates of each channel's WhatsApp Business Account
(its wabaId) through the Cloud API at WHATSAPP_API_URL, every page of them,
and replaces the stored ones. Prints, per channel, how many were stored and
removed, or why it was not synced (no wabaId, a Cloud API error). Without
options, every channel of every tenant.

  --tenant ID    only this tenant's channels
  --channel ID   only this channel
  --help         this text`;

/** `wagate templates sync`. */
export async function runTemplatesSync(args: string[]): Promise<void> {
  const flags = parseFlags(COMMAND, args, { tenant: { type: 'string' }, channel: { type: 'string' } });
  if (flags.help) return void process.stdout.write(TEMPLATES_SYNC_HELP + '\n');
  const tenantId = optionalString(flags, 'tenant') ?? null;
  const channelId = optionalString(flags, 'channel') ?? null;
  if (tenantId !== null && !isRowId(tenantId)) throw new UsageError(`--tenant must be a tenant id (digits), got ${JSON.stringify(tenantId)}`, COMMAND);
  if (channelId !== null && !isRowId(channelId)) throw new UsageError(`--channel must be a channel id (digits), got ${JSON.stringify(channelId)}`, COMMAND);
  const config = provisioningConfig();
  const key = await resolveSecretKey(config, 'nothing (it decrypts the channels\' access tokens)');
  const cloudApi = createCloudApi(config.whatsappApiUrl);
  try {
    const result = await withDatabase(config, ({ db }) =>
      provisioningCall(
        () => new TemplateSync(db, cloudApi, new ChannelDirectory(db, key), pino({ level: 'silent' })).sync(tenantId, channelId),
        (e) => (e.code === 'not_found' ? `channel ${channelId} not found` : e.message),
      ),
    );
    printJson(result);
    if (result.some((r) => r.error)) throw new CommandError('some channels were not synced (see their error above)');
  } finally {
    await cloudApi.close();
  }
}
