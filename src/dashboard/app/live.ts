/** A live update from GET /api/events. */
export interface LiveUpdate {
  type: 'message' | 'status' | 'disposition' | 'conversation' | 'ready';
  conversationId?: string;
  [k: string]: unknown;
}

type Listener = (u: LiveUpdate) => void;

/**
 * The dashboard's one event stream. EventSource reconnects by itself; each
 * (re)connection delivers `ready`, on which views reload what they show, so
 * nothing missed while disconnected stays missing.
 */
export class Live {
  private source: EventSource | null = null;
  private readonly listeners = new Set<Listener>();
  /** False while the stream is down (shown in the header). */
  connected = false;
  onConnectionChange: (connected: boolean) => void = () => {};

  start(): void {
    if (this.source) return;
    const source = new EventSource('/api/events');
    this.source = source;
    for (const type of ['message', 'status', 'disposition', 'conversation', 'ready'] as const) {
      source.addEventListener(type, (ev) => {
        let data: Record<string, unknown> = {};
        try {
          data = JSON.parse((ev as MessageEvent<string>).data) as Record<string, unknown>;
        } catch {
          return;
        }
        if (type === 'ready') this.setConnected(true);
        const update = { ...data, type } as LiveUpdate;
        for (const l of this.listeners) l(update);
      });
    }
    source.addEventListener('error', () => this.setConnected(false));
  }

  stop(): void {
    this.source?.close();
    this.source = null;
    this.setConnected(false);
  }

  /** Tells the listeners of a change this page made itself (one the server sends no event for). */
  notify(update: LiveUpdate): void {
    for (const l of this.listeners) l(update);
  }

  /** Adds a listener; returns its removal. */
  on(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private setConnected(v: boolean): void {
    if (this.connected === v) return;
    this.connected = v;
    this.onConnectionChange(v);
  }
}

/** Runs `fn` at most once per `ms`, at the end of a burst (several events for one change). */
export function debounce(fn: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  return () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  };
}
