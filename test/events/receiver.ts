import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An event as the receiver got it, with whether its signature checked out. */
export interface Received {
  id: string;
  type: string;
  time: string;
  tenantId: string;
  conversationId: string | null;
  messageId: string | null;
  data: any;
  signed: boolean;
  at: number;
}

/**
 * A webhook receiver on loopback, as a tenant would write one: it checks
 * X-Wagate-Signature (HMAC-SHA256 of "<timestamp>.<raw body>") against its
 * secret before it believes a byte, and records what it accepted. `status`
 * is what it answers (503: down); `delayMs` makes it slow; `close` and `up`
 * take it off the network and back.
 */
export async function startReceiver(secret: string) {
  const received: Received[] = [];
  const state = { status: 200, delayMs: 0, requests: 0, badSignatures: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests++;
      const raw = Buffer.concat(chunks).toString('utf8');
      const ts = String(req.headers['x-wagate-timestamp'] ?? '');
      const sig = String(req.headers['x-wagate-signature'] ?? '');
      const want = 'sha256=' + createHmac('sha256', secret).update(`${ts}.${raw}`).digest('hex');
      const signed = sig.length === want.length && timingSafeEqual(Buffer.from(sig), Buffer.from(want)) && Math.abs(Date.now() / 1000 - Number(ts)) < 300;
      if (!signed) state.badSignatures++;
      const answer = () => {
        if (state.status >= 200 && state.status < 300 && signed) received.push({ ...JSON.parse(raw), signed, at: Date.now() });
        res.statusCode = signed ? state.status : 401;
        res.end('ok');
      };
      if (state.delayMs > 0) setTimeout(answer, state.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hooks/wagate`,
    host: `127.0.0.1:${port}`,
    received,
    state,
    /** Stops listening: connections are refused until `up`. */
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
    /** Listens again on the same port. */
    up: () => new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    }),
  };
}
