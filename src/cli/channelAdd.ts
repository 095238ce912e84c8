import { channelCreateInput } from '../tenancy/provision.ts';
import { optionalString, optionalWholeNumber, parseFlags, requiredString, tenantIdFlag, validateInput } from './args.ts';
import { provisioningConfig } from './config.ts';
import { AuditLog, CLI_ACTOR } from '../tenancy/auditLog.ts';
import { withDatabase } from './database.ts';
import { printJson } from './output.ts';
import { provisioning, provisioningCall } from './provisioning.ts';
import { resolveSecretKey } from './secretKey.ts';

const COMMAND = 'wagate channel add';

export const CHANNEL_ADD_HELP = `Usage: wagate channel add --tenant ID --phone-number-id P --display-phone-number D
                          --access-token T [--app-secret S] [--verify-token V]
                          [--messages-per-second N] [--waba-id W]

Adds a WhatsApp number (a channel) to a tenant and prints it as JSON (never
its token or secrets, which are stored encrypted with WAGATE_SECRET_KEY; in a
sandbox's data directory the sandbox's own key is used when it is unset).

  --tenant ID                 the tenant's id
  --phone-number-id P         the number's phone_number_id at Meta
  --display-phone-number D    the number as people see it, e.g. "+1 555 0100"
  --access-token T            the Cloud API access token for this number
  --app-secret S              the tenant's own Meta app secret (its webhooks then
                              go to /webhooks/whatsapp/<channel id>)
  --verify-token V            that app's webhook verify token
  --messages-per-second N     the number's send rate at Meta (default 80, up to 1000)
  --waba-id W                 the WhatsApp Business Account id: the channel's
                              message templates are synced from it
  --help                      this text`;

/** `wagate channel add`. */
export async function runChannelAdd(args: string[]): Promise<void> {
  const flags = parseFlags(COMMAND, args, {
    tenant: { type: 'string' },
    'phone-number-id': { type: 'string' },
    'display-phone-number': { type: 'string' },
    'access-token': { type: 'string' },
    'app-secret': { type: 'string' },
    'verify-token': { type: 'string' },
    'messages-per-second': { type: 'string' },
    'waba-id': { type: 'string' },
  });
  if (flags.help) {
    process.stdout.write(CHANNEL_ADD_HELP + '\n');
    return;
  }
  const tenantId = tenantIdFlag(flags, COMMAND);
  const input = validateInput(
    channelCreateInput,
    {
      phoneNumberId: requiredString(flags, 'phone-number-id', COMMAND),
      displayPhoneNumber: requiredString(flags, 'display-phone-number', COMMAND),
      accessToken: requiredString(flags, 'access-token', COMMAND),
      appSecret: optionalString(flags, 'app-secret'),
      verifyToken: optionalString(flags, 'verify-token'),
      messagesPerSecond: optionalWholeNumber(flags, 'messages-per-second', COMMAND),
      wabaId: optionalString(flags, 'waba-id'),
    },
    {
      phoneNumberId: '--phone-number-id',
      displayPhoneNumber: '--display-phone-number',
      accessToken: '--access-token',
      appSecret: '--app-secret',
      verifyToken: '--verify-token',
      messagesPerSecond: '--messages-per-second',
      wabaId: '--waba-id',
    },
    COMMAND,
  );
  const config = provisioningConfig();
  const key = await resolveSecretKey(config, "the channel's access token");
  const channel = await withDatabase(config, async ({ db }) => {
    const c = await provisioningCall(
      () => provisioning(db, config, key).addChannel(tenantId, input),
      (e) => (e.code === 'not_found' ? `tenant ${tenantId} not found` : e.message),
    );
    await new AuditLog(db).record(CLI_ACTOR, { tenantId: c.tenantId, action: 'channel.added', targetType: 'channel', targetId: c.id, detail: { phoneNumberId: c.phoneNumberId } });
    return c;
  });
  printJson(channel);
}
