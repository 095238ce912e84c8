import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sql, type Db } from '../db/db.ts';
import { ApiKeys } from '../tenancy/apiKeys.ts';
import type { Provisioning } from '../tenancy/provision.ts';
import type { SimTemplate } from './simulatorMessages.ts';

/** What the sandbox keeps in `<dataDir>/sandbox.json` so restarts keep the same keys and demo tenant. */
export interface SandboxState {
  adminKey: string;
  /** 32 bytes, hex: encrypts tokens at rest, like WAGATE_SECRET_KEY. */
  secretKey: string;
  tenantId?: string;
  channelId?: string;
  /** The demo tenant's key, kept so the sandbox can print it at every start. */
  tenantKey?: string;
}

/** The demo channel's WhatsApp Business Account id (the simulator serves its templates). */
export const SANDBOX_WABA_ID = '100000000000009';

/** The demo business's message templates, as the simulator's account lists them. */
export const DEMO_TEMPLATES: SimTemplate[] = [
  {
    id: '100000000000101',
    name: 'order_ready',
    language: 'en_US',
    status: 'APPROVED',
    category: 'UTILITY',
    parameter_format: 'POSITIONAL',
    components: [
      { type: 'BODY', text: 'Hi {{1}}, your bike {{2}} is ready for pickup.' },
      { type: 'FOOTER', text: 'Demo Bikes' },
      { type: 'BUTTONS', buttons: [{ type: 'QUICK_REPLY', text: 'Opening hours' }, { type: 'QUICK_REPLY', text: 'Talk to a person' }] },
    ],
  },
  {
    id: '100000000000102',
    name: 'spring_service',
    language: 'en_US',
    status: 'APPROVED',
    category: 'MARKETING',
    parameter_format: 'NAMED',
    components: [{ type: 'BODY', text: 'Hello {{first_name}}! Spring is here: book a tune-up this week.' }, { type: 'BUTTONS', buttons: [{ type: 'QUICK_REPLY', text: 'Prices' }] }],
  },
  {
    id: '100000000000103',
    name: 'service_booked',
    language: 'en_US',
    status: 'APPROVED',
    category: 'UTILITY',
    parameter_format: 'POSITIONAL',
    components: [
      { type: 'HEADER', format: 'LOCATION' },
      { type: 'BODY', text: 'Your service {{1}} is booked: bring your bike here.' },
      { type: 'BUTTONS', buttons: [{ type: 'QUICK_REPLY', text: 'Opening hours' }, { type: 'URL', text: 'See booking', url: 'https://bikes.example.com/bookings/{{1}}' }] },
    ],
  },
];

/** The demo channel's phone_number_id. */
export const SANDBOX_PHONE_NUMBER_ID = '100000000000001';
export const SANDBOX_DISPLAY_NUMBER = '+1 555 010 0001';

const stateFile = (dataDir: string) => path.join(dataDir, 'sandbox.json');

/** Reads the sandbox's keys, creating them on first start. */
export async function loadSandboxState(dataDir: string): Promise<SandboxState> {
  try {
    return JSON.parse(await readFile(stateFile(dataDir), 'utf8')) as SandboxState;
  } catch {
    const state: SandboxState = { adminKey: 'wgk_admin_' + randomBytes(18).toString('base64url'), secretKey: randomBytes(32).toString('hex') };
    await saveSandboxState(dataDir, state);
    return state;
  }
}

async function saveSandboxState(dataDir: string, state: SandboxState): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  await writeFile(stateFile(dataDir), JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
}

const CHANNEL_BY_PHONE = sql('sandbox_channel_by_phone', 'SELECT id, tenant_id FROM channels WHERE phone_number_id = $1');
/** A demo channel made before templates existed gets its account id. */
const SET_WABA = sql('sandbox_channel_waba', 'UPDATE channels SET waba_id = $2 WHERE id = $1 AND waba_id IS NULL');

/** The sandbox's demo tenant: what `npm start` prints to sign in with. */
export type DemoTenant = Required<Pick<SandboxState, 'tenantId' | 'channelId' | 'tenantKey'>>;

/**
 * Makes sure the demo tenant, its channel and a working tenant key exist
 * (once per data directory; a new key if the kept one was revoked), and
 * returns them.
 */
export async function ensureDemoTenant(
  db: Db,
  provisioning: Provisioning,
  dataDir: string,
  state: SandboxState,
  agentProvider: 'openai' | 'demo',
): Promise<DemoTenant> {
  const [existing] = await db.query<{ id: string; tenant_id: string }>(CHANNEL_BY_PHONE, [SANDBOX_PHONE_NUMBER_ID]);
  if (existing) await db.query(SET_WABA, [existing.id, SANDBOX_WABA_ID]);
  // The kept key is printed again only while it works: it may have been revoked in the dashboard.
  const kept = existing && state.tenantKey ? await new ApiKeys(db).lookup(state.tenantKey) : null;
  if (existing && state.tenantKey && state.tenantId === existing.tenant_id && kept?.tenantId === existing.tenant_id) {
    return { tenantId: existing.tenant_id, channelId: existing.id, tenantKey: state.tenantKey };
  }
  let tenantId = existing?.tenant_id;
  let channelId = existing?.id;
  if (!tenantId || !channelId) {
    const tenant = await provisioning.createTenant({
      name: 'Demo Bikes',
      monthlyMessageLimit: 1000,
      agent: {
        provider: agentProvider,
        systemPrompt: 'You are Ava, the assistant of Demo Bikes, a bicycle shop. Answer briefly and kindly.',
        handoffKeywords: ['human', 'agent'],
        handoffMessage: 'Of course, a person from our team will answer you here shortly.',
        quotaNotice: 'We have reached our message limit for this month. A person will get back to you.',
      },
    });
    const channel = await provisioning.addChannel(tenant.id, {
      phoneNumberId: SANDBOX_PHONE_NUMBER_ID,
      displayPhoneNumber: SANDBOX_DISPLAY_NUMBER,
      wabaId: SANDBOX_WABA_ID,
      accessToken: 'sandbox-token-' + randomBytes(8).toString('hex'),
    });
    tenantId = tenant.id;
    channelId = channel.id;
  }
  const { key } = await provisioning.createApiKey(tenantId);
  const next = { ...state, tenantId, channelId, tenantKey: key };
  await saveSandboxState(dataDir, next);
  return { tenantId, channelId, tenantKey: key };
}
