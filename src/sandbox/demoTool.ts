import { createHmac } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { DEMO_ORDER_TOOL } from '../agent/demo.ts';
import { signAgentRequest, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../agent/http.ts';
import { safeEqual } from '../shared/secrets.ts';
import type { ToolAdmin } from '../tenancy/tools.ts';

/** Where the sandbox serves its demo tool, on the gateway's own port. */
export const DEMO_TOOL_PATH = '/sandbox/api/tools/order_status';

/** Signed calls older or newer than this are refused, as a real tool endpoint should. */
const MAX_CLOCK_SKEW_S = 300;

/** The demo tool's URL: the gateway itself, on loopback (allowed for the demo tenant only, src/app/gateway.ts). */
export function demoToolUrl(port: number): string {
  return `http://127.0.0.1:${port}${DEMO_TOOL_PATH}`;
}

/**
 * The demo tool's signing secret, derived from WAGATE_SECRET_KEY: the same
 * after every restart without being stored anywhere, and unknown to anyone
 * without the key.
 */
export function demoToolSecret(secretKey: Buffer): string {
  return createHmac('sha256', secretKey).update('wagate sandbox demo tool').digest('hex');
}

/**
 * Gives the demo tenant its `order_status` tool, or points the one it has at
 * this run's port with this run's secret. The secret is derived from
 * WAGATE_SECRET_KEY, so after a key rotation (or a secret changed through
 * the API) the stored one no longer matches what the endpoint checks: it is
 * written again at every start.
 */
export async function ensureDemoTool(tools: ToolAdmin, tenantId: string, url: string, secret: string): Promise<void> {
  const existing = (await tools.list(tenantId)).find((t) => t.name === DEMO_ORDER_TOOL);
  if (existing) {
    await tools.update(existing.id, tenantId, { url, secret });
    return;
  }
  await tools.create(tenantId, {
    name: DEMO_ORDER_TOOL,
    description: "Looks up an order of Demo Bikes by its number: its status and when it is expected. Use it when a customer asks where their order is.",
    parameters: {
      type: 'object',
      properties: { orderId: { type: 'string', pattern: '^[0-9]{3,12}$', description: 'the order number, digits only' } },
      required: ['orderId'],
      additionalProperties: false,
    },
    url,
    secret,
    safeToRepeat: true,
    timeoutMs: 5_000,
  });
}

const STATUSES = ['being packed', 'shipped', 'out for delivery', 'delivered'] as const;

/** The demo shop's answer for an order: made up, but the same for the same number. */
export function demoOrder(orderId: string): { orderId: string; status: string; eta: string | null } {
  const n = [...orderId].reduce((s, c) => (s * 31 + c.charCodeAt(0)) % 1_000_003, 7);
  const status = STATUSES[n % STATUSES.length];
  return { orderId, status, eta: status === 'delivered' ? null : ['tomorrow', 'on Friday', 'within 3 days'][n % 3] };
}

/**
 * The demo tool's endpoint: checks the signature as a tenant's endpoint
 * should (HMAC of "<timestamp>.<raw body>" with the tool's secret, and a
 * recent timestamp), then answers the order's status.
 */
export async function demoToolRoutes(app: FastifyInstance, { secret }: { secret: string }): Promise<void> {
  await app.register(async (scope) => {
    // The signature covers the exact bytes: keep them.
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    scope.post(DEMO_TOOL_PATH, async (req, reply) => {
      const raw = typeof req.body === 'string' ? req.body : '';
      const ts = String(req.headers[TIMESTAMP_HEADER.toLowerCase()] ?? '');
      const sig = String(req.headers[SIGNATURE_HEADER.toLowerCase()] ?? '');
      const fresh = /^\d+$/.test(ts) && Math.abs(Date.now() / 1000 - Number(ts)) <= MAX_CLOCK_SKEW_S;
      if (!fresh || !safeEqual(sig, signAgentRequest(secret, ts, raw))) {
        return reply.code(401).send({ error: 'bad signature' });
      }
      let orderId: unknown;
      try {
        orderId = JSON.parse(raw)?.arguments?.orderId;
      } catch {
        // Answered below.
      }
      if (typeof orderId !== 'string' || !/^\d{3,12}$/.test(orderId)) return reply.code(400).send({ error: 'arguments.orderId: digits expected' });
      return reply.header('cache-control', 'no-store').send(demoOrder(orderId));
    });
  });
}
