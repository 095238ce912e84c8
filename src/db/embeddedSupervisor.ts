import type { ChildProcess } from 'node:child_process';

/** What a supervised server reports, for the log and the metrics. */
export interface SupervisionEvents {
  /** The server exited on its own (not at stop); a restart follows after `restartInMs`. */
  exited(e: { code: number | null; signal: NodeJS.Signals | null; restartInMs: number }): void;
  /** A restart attempt failed; the next one follows after `retryInMs`. */
  restartFailed(e: { error: Error; attempt: number; retryInMs: number }): void;
  /** The server accepts connections again, `downMs` after it exited, at the `attempts`-th try. */
  back(e: { downMs: number; attempts: number }): void;
}

/** How restarts are spaced: doubling from `firstMs` up to `maxMs`; a server up for `stableMs` starts over from `firstMs`. */
export interface RestartBackoff {
  firstMs: number;
  maxMs: number;
  stableMs: number;
}

/**
 * 0.5 s, 1 s, 2 s … 10 s. The first wait is not zero: after a SIGKILL of the
 * postmaster its backends live on until they notice, and a new postmaster
 * refuses a shared memory block they still hold; they notice within a few
 * hundred milliseconds unless a long statement keeps one busy.
 */
export const RESTART_BACKOFF: RestartBackoff = { firstMs: 500, maxMs: 10_000, stableMs: 30_000 };

/**
 * Keeps a server process running: when it exits while nobody asked it to,
 * `launch` starts it again, with a growing wait while it keeps dying or
 * failing to start. The owner stops supervising (`release`) before it stops
 * the server itself.
 */
export class ServerSupervisor {
  private current!: ChildProcess;
  private upSince = 0;
  private downSince = 0;
  private attempts = 0;
  /** Deaths and failed starts since the server was last up for `stableMs`. */
  private failures = 0;
  private released = false;
  private timer: NodeJS.Timeout | null = null;
  private launching: Promise<ChildProcess> | null = null;

  constructor(
    first: ChildProcess,
    private readonly launch: () => Promise<ChildProcess>,
    private readonly events: SupervisionEvents,
    private readonly backoff: RestartBackoff = RESTART_BACKOFF,
  ) {
    this.watch(first);
  }

  private watch(child: ChildProcess): void {
    this.current = child;
    this.upSince = performance.now();
    child.once('exit', (code, signal) => this.exited(child, code, signal));
  }

  private exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.released || child !== this.current) return;
    if (performance.now() - this.upSince >= this.backoff.stableMs) this.failures = 0;
    this.downSince = performance.now();
    this.attempts = 0;
    const wait = this.nextWait();
    this.events.exited({ code, signal, restartInMs: wait });
    this.schedule(wait);
  }

  private nextWait(): number {
    return Math.min(this.backoff.maxMs, this.backoff.firstMs * 2 ** this.failures++);
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.restart();
    }, ms);
  }

  private async restart(): Promise<void> {
    if (this.released) return;
    this.attempts++;
    const launching = this.launch();
    this.launching = launching;
    let child: ChildProcess;
    try {
      child = await launching;
    } catch (err) {
      this.launching = null;
      if (this.released) return;
      const wait = this.nextWait();
      this.events.restartFailed({ error: err instanceof Error ? err : new Error(String(err)), attempt: this.attempts, retryInMs: wait });
      this.schedule(wait);
      return;
    }
    this.launching = null;
    // Released meanwhile: release() received this child from `launching` and stops it.
    if (this.released) return;
    this.watch(child);
    this.events.back({ downMs: Math.round(performance.now() - this.downSince), attempts: this.attempts });
  }

  /**
   * Stops supervising. Resolves with the server's process (waiting for a
   * restart under way), which the caller then stops; null when none runs.
   */
  async release(): Promise<ChildProcess | null> {
    this.released = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.launching) return this.launching.catch(() => null);
    return this.current.exitCode === null && this.current.signalCode === null ? this.current : null;
  }
}
