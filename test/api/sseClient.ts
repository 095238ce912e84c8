/** One server-sent event as received. */
export interface ReceivedEvent {
  event: string;
  data: any;
}

/** A test client of a server-sent events stream over fetch: collects events, waits for one. */
export interface EventStreamClient {
  status: number;
  headers: Headers;
  /** The error body when the stream was refused. */
  body: any;
  events: ReceivedEvent[];
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  next(predicate: (e: ReceivedEvent) => boolean, timeoutMs?: number): Promise<ReceivedEvent>;
  close(): void;
}

/** Opens `url` as an event stream with `headers`. */
export async function openEventStream(url: string, headers: Record<string, string>): Promise<EventStreamClient> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const events: ReceivedEvent[] = [];
  const waiters = new Set<() => void>();
  if (!res.ok || !res.body) {
    const body = await res.json().catch(() => null);
    return { status: res.status, headers: res.headers, body, events, ended: Promise.resolve(), next: () => Promise.reject(new Error('no stream')), close() {} };
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const ended = (async () => {
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += decoder.decode(value, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length) {
            events.push({ event, data: JSON.parse(data.join('\n')) });
            for (const w of waiters) w();
          }
        }
      }
    } catch {
      // aborted by close()
    }
  })();
  return {
    status: res.status,
    headers: res.headers,
    body: null,
    events,
    ended,
    next(predicate, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        let from = 0;
        const check = () => {
          for (; from < events.length; from++) {
            if (predicate(events[from])) {
              waiters.delete(check);
              clearTimeout(timer);
              resolve(events[from]);
              return;
            }
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events.map((e) => [e.event, e.data]))}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close() {
      abort.abort();
    },
  };
}
