import { STATUS_CODES, type ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { HttpConfig } from '../config/http.ts';

/** Fastify's options that carry the time limits. */
export interface ServerTimeouts {
  requestTimeout: number;
  keepAliveTimeout: number;
  http: ServerOptions;
  clientErrorHandler: (err: Error & { code?: string }, socket: Socket) => void;
}

/**
 * The HTTP server's time limits (docs/security.md, "Limits on one client"):
 *
 * - the request timeout bounds how long a request's headers and body may take
 *   to arrive (a body trickled one byte at a time is cut with 408); it stops
 *   counting once the request is received, so a long answer such as a
 *   server-sent event stream is never cut by it;
 * - the headers timeout bounds the headers alone, and a new connection that
 *   sends nothing;
 * - the keep-alive timeout closes a connection idle between requests. It
 *   must outlast the idle timeout of whatever reuses connections in front of
 *   the gateway (Meta's senders, load balancers: 60 s on most), or a request
 *   can arrive on a connection the gateway is closing at that moment.
 */
export function serverTimeouts(http: HttpConfig): ServerTimeouts {
  const requestTimeout = http.requestTimeoutMs;
  // Node refuses a headers timeout longer than the request timeout.
  const headersTimeout = Math.min(http.headersTimeoutMs, requestTimeout);
  return {
    requestTimeout,
    keepAliveTimeout: http.keepAliveTimeoutMs,
    http: {
      requestTimeout,
      headersTimeout,
      // How often Node looks for requests past their timeouts (its default, 30 s, would let a 1 s limit run to 31 s).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4))),
    },
    clientErrorHandler,
  };
}

/** Caps the connections open at once: past the cap, Node closes a new connection as soon as it is accepted. */
export function capConnections(server: { maxConnections: number }, max: number): void {
  server.maxConnections = max;
}

const CLIENT_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'request_timeout', message: 'the request did not arrive in time' },
  HPE_HEADER_OVERFLOW: { status: 431, code: 'headers_too_large', message: 'the request headers are too large' },
};
const MALFORMED = { status: 400, code: 'invalid_request', message: 'malformed HTTP request' };

/**
 * Answers what Node refuses before a request reaches a route (a timeout,
 * malformed HTTP) with the API's JSON error shape, then closes the connection.
 */
function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const e = CLIENT_ERRORS[err.code ?? ''] ?? MALFORMED;
  // Only when no answer has started on this connection: bytes after a partial answer would corrupt it.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const body = JSON.stringify({ error: { code: e.code, message: e.message } });
    socket.write(
      `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
