import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { signAgentRequest } from '../../src/agent/http.ts';

/** One call as the tool endpoint received it. */
export interface ToolRequest {
  headers: IncomingHttpHeaders;
  rawBody: string;
  body: any;
  /** Whether X-Wagate-Signature is the HMAC of "<timestamp>.<raw body>" with the server's secret. */
  signed: boolean;
}

/**
 * A tool endpoint on 127.0.0.1 for tests: records each call, checks its
 * signature, and answers `answer(body)` (default `{"ok": true, "echo": arguments}`),
 * after `hold` resolves when one is set (to keep a call running).
 */
export class ToolServer {
  readonly requests: ToolRequest[] = [];
  answer: (body: any) => { status?: number; body?: unknown; raw?: string } = (b) => ({ body: { ok: true, echo: b?.arguments } });
  hold: Promise<void> | null = null;
  private constructor(
    private readonly server: Server,
    readonly secret: string,
    readonly url: string,
  ) {}

  static async start(secret: string): Promise<ToolServer> {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const t = new ToolServer(server, secret, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const rawBody = Buffer.concat(chunks).toString('utf8');
        const ts = String(req.headers['x-wagate-timestamp'] ?? '');
        const signed = req.headers['x-wagate-signature'] === signAgentRequest(t.secret, ts, rawBody);
        let body: any = null;
        try {
          body = JSON.parse(rawBody);
        } catch {
          body = null;
        }
        t.requests.push({ headers: req.headers, rawBody, body, signed });
        if (t.hold) await t.hold;
        const a = t.answer(body);
        const text = a.raw ?? JSON.stringify(a.body);
        if (res.destroyed) return;
        res.writeHead(a.status ?? 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      });
    });
    return t;
  }

  /** `host:port`, for WAGATE_EGRESS_ALLOW. */
  get host(): string {
    return new URL(this.url).host;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
