import { connect, type Socket } from 'node:net';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';

/** A raw TCP connection to the gateway: what it received, and whether (and when) the server closed it. */
export interface RawConnection {
  readonly socket: Socket;
  /** Everything received so far, as latin1 text. */
  received(): string;
  /** Resolves once the connection is closed (by either side), with the milliseconds since it opened. */
  readonly closed: Promise<number>;
  readonly isClosed: () => boolean;
  /** Waits until `received()` matches, or fails after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  close(): void;
}

/** Opens a connection to the URL's host and port; `paused` reads nothing until `socket.resume()`. */
export function rawConnect(url: string, opts: { paused?: boolean } = {}): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const opened = Date.now();
    const socket = connect(Number(port), hostname);
    if (opts.paused) socket.pause();
    let data = '';
    let isClosed = false;
    const waiters = new Set<() => void>();
    socket.on('data', (d) => {
      data += d.toString('latin1');
      for (const w of [...waiters]) w();
    });
    // A write into a closed connection (EPIPE, ECONNRESET) is what some tests look for: not a failure of the test.
    socket.on('error', () => {});
    const closed = new Promise<number>((done) =>
      socket.once('close', () => {
        isClosed = true;
        for (const w of [...waiters]) w();
        done(Date.now() - opened);
      }),
    );
    socket.once('connect', () =>
      resolve({
        socket,
        received: () => data,
        closed,
        isClosed: () => isClosed,
        waitFor(pattern, timeoutMs = 15_000) {
          return new Promise((ok, fail) => {
            const check = () => {
              if (pattern.test(data)) {
                clearTimeout(timer);
                waiters.delete(check);
                ok(data);
              } else if (isClosed) {
                clearTimeout(timer);
                waiters.delete(check);
                fail(new Error(`closed without ${pattern}; received ${JSON.stringify(data.slice(0, 300))}`));
              }
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`no ${pattern} within ${timeoutMs} ms; received ${JSON.stringify(data.slice(0, 300))}`));
            }, timeoutMs);
            waiters.add(check);
            check();
          });
        },
        close: () => socket.destroy(),
      }),
    );
    socket.once('error', reject);
  });
}

/** Resolves when `p` does, or fails after `ms` naming `what`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, fail) => (timer = setTimeout(() => fail(new Error(`${what}: not within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** The status code of the first HTTP answer in `text`, or null. */
export function firstStatus(text: string): number | null {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
  return m ? Number(m[1]) : null;
}

/** The JSON body of a single complete HTTP answer in `text` (Content-Length framed). */
export function jsonBody(text: string): any {
  const at = text.indexOf('\r\n\r\n');
  const length = Number(/\r\ncontent-length: (\d+)/i.exec(text.slice(0, at))?.[1]);
  return JSON.parse(text.slice(at + 4, at + 4 + length));
}

/**
 * One HTTP request with full control of the headers, Host included (fetch
 * forbids setting it); the answer's status, headers and JSON body.
 */
export function requestWith(url: string, opts: { method?: string; path: string; headers?: Record<string, string>; body?: string }) {
  return new Promise<{ status: number; headers: IncomingHttpHeaders; body: any }>((resolve, reject) => {
    const u = new URL(url);
    const req = httpRequest(
      { host: u.hostname, port: u.port, method: opts.method ?? 'GET', path: opts.path, headers: opts.headers, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let body: any = text;
          try {
            body = text ? JSON.parse(text) : null;
          } catch {
            // not JSON: kept as text
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}
