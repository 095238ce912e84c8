import type { FastifyInstance, FastifyReply } from 'fastify';

/** A server-sent events stream to one client. */
export interface SseStream {
  /** Sends one event (dropped once the stream is closed). */
  send(event: string, data: unknown): void;
  close(): void;
  readonly closed: boolean;
}

// A client that stops reading is dropped, not buffered for: it reconnects and reloads.
const MAX_BUFFERED = 512 * 1024;
const HEARTBEAT_MS = 15_000;

/**
 * Keeps the open streams of a route set, so that closing the server ends
 * them (an open stream would otherwise hold `close()` for ever).
 */
export class SseStreams {
  private readonly open = new Set<SseStream>();

  constructor(app: FastifyInstance) {
    app.addHook('preClose', async () => {
      for (const s of [...this.open]) s.close();
    });
  }

  get size(): number {
    return this.open.size;
  }

  /**
   * Takes over the response and starts an event stream with `headers` (the
   * reply's hooks do not run on a hijacked reply). `onClose` runs once, when
   * the client goes away or the stream is closed.
   */
  start(reply: FastifyReply, headers: Readonly<Record<string, string>>, onClose: () => void): SseStream {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Proxies such as nginx would otherwise hold events back in a buffer.
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n: connected\n\n');
    let closed = false;
    const heartbeat = setInterval(() => write(': ping\n\n'), HEARTBEAT_MS);
    const streams = this.open;
    const stream: SseStream = {
      get closed() {
        return closed;
      },
      send(event, data) {
        write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      },
      close: finish,
    };
    function write(chunk: string): void {
      if (closed) return;
      if (res.writableLength > MAX_BUFFERED) return finish();
      res.write(chunk);
    }
    function finish(): void {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      streams.delete(stream);
      res.end();
      onClose();
    }
    // The response's close, not the request's: a GET's request "closes" as soon as it is read.
    res.once('close', finish);
    res.once('error', finish);
    this.open.add(stream);
    return stream;
  }
}
