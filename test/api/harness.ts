import { startCloudApiSimulator, type CloudApiSimulator } from '../../src/sandbox/cloudApiSimulator.ts';
import { api, provisionTenant, startTestGateway, TEST_APP_SECRET, type TestGateway } from '../support/gateway.ts';
import { FAST } from '../support/pipeline.ts';
import { postWebhook, textNotification } from '../support/webhooks.ts';

import { freePort } from '../../src/db/embedded.ts';

/** A port free right now on 127.0.0.1 (the simulator must know the gateway's port before it listens). */
export { freePort };

export interface ApiHarness {
  gw: TestGateway;
  /** The Cloud API simulator; it posts sent/delivered/read back through the signed webhook. */
  cloud: CloudApiSimulator;
  close(): Promise<void>;
}

/**
 * A gateway with the operator API and a conversation pipeline that answers
 * with the tenants' agents (the demo agent by default) through a Cloud API
 * simulator, which posts statuses back as Meta would.
 */
export async function startApiGateway(
  opts: { env?: Record<string, string>; statuses?: boolean; /** Serve the simulator's phone page at /sandbox, as in sandbox mode. */ sandbox?: boolean } = {},
): Promise<ApiHarness> {
  const port = await freePort();
  const cloud = await startCloudApiSimulator({
    webhookUrl: `http://127.0.0.1:${port}/webhooks/whatsapp`,
    appSecret: TEST_APP_SECRET,
    statusDelaysMs: opts.statuses === false ? null : { sent: 0, delivered: 20, read: 60 },
  });
  try {
    const gw = await startTestGateway({
      env: { PORT: String(port), WHATSAPP_API_URL: cloud.url + '/v25.0', ...opts.env },
      answer: true,
      timings: FAST,
      simulator: opts.sandbox ? cloud : undefined,
    });
    return {
      gw,
      cloud,
      async close() {
        await gw.stop();
        await cloud.close();
      },
    };
  } catch (err) {
    await cloud.close();
    throw err;
  }
}

/** A tenant with a channel and key, and one conversation started by a customer's text. */
export async function tenantWithConversation(gw: TestGateway, opts: { name?: string; agent?: Record<string, unknown>; from?: string; text?: string } = {}) {
  const t = await provisionTenant(gw, { name: opts.name ?? 'Acme', agent: opts.agent ?? { provider: 'demo' } });
  const from = opts.from ?? '1555' + Math.floor(1e6 + Math.random() * 9e6);
  const n = textNotification(t.phoneNumberId, from, opts.text ?? 'hello');
  const res = await postWebhook(gw.url, n.body);
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${res.text}`);
  const list = await api(gw, 'GET', '/api/conversations', undefined, t.key);
  const conv = list.body.items.find((c: { contact: { waId: string } }) => c.contact.waId === from);
  if (!conv) throw new Error('conversation not listed');
  return { ...t, from, conversationId: conv.id as string, wamid: n.wamid };
}
