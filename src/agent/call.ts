import { setTimeout as sleep } from 'node:timers/promises';
import { AgentError, type Agent, type AgentInput, type AgentOutput } from './types.ts';

/** How callAgent tries: 3 attempts in all (docs/behaviour.md), each within the tenant's `timeoutMs`. */
export interface CallAgentOptions {
  /** Attempts in all (default 3). */
  attempts?: number;
  /** Time allowed to each attempt (default `input.config.timeoutMs`). */
  timeoutMs?: number;
  /** Base of the pause between attempts: the n-th pause is backoffMs·2^(n-1), jittered to 50–100 % (default 200). */
  backoffMs?: number;
}

/**
 * Thrown by callAgent when the turn's own signal aborted (restart, pause,
 * shutdown): not a failure of the agent, and never retried. `name` is
 * 'AbortError' like the platform's; `cause` is the signal's reason.
 */
export class AgentAbortedError extends Error {
  readonly code = 'agent_aborted';
  constructor(reason: unknown) {
    super('the agent call was cancelled', { cause: reason });
    this.name = 'AbortError';
  }
}

/**
 * Runs one agent call the way a turn needs it: each attempt gets its own
 * timeout; retryable AgentErrors and timeouts are tried again after a short
 * jittered pause, up to `attempts` in all; a non-retryable AgentError is
 * thrown at once. When `input.signal` aborts, the running attempt is
 * cancelled and AgentAbortedError is thrown without another try. After the
 * last attempt the last AgentError is thrown (`agent_timeout`,
 * `agent_http_500`, `agent_invalid_answer` …). Anything else a provider
 * throws becomes a non-retryable AgentError `agent_error`.
 */
export async function callAgent(agent: Agent, input: AgentInput, opts: CallAgentOptions = {}): Promise<AgentOutput> {
  const attempts = opts.attempts ?? 3;
  const timeoutMs = opts.timeoutMs ?? input.config.timeoutMs;
  const backoffMs = opts.backoffMs ?? 200;
  if (!Number.isInteger(attempts) || attempts < 1) throw new RangeError(`attempts must be a whole number ≥ 1 (got ${attempts})`);
  if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0 (got ${timeoutMs})`);
  if (!(backoffMs >= 0)) throw new RangeError(`backoffMs must be ≥ 0 (got ${backoffMs})`);
  const turn = input.signal;
  let last: AgentError | null = null;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (turn.aborted) throw new AgentAbortedError(turn.reason);
    try {
      return await attemptOnce(agent, input, timeoutMs);
    } catch (err) {
      if (turn.aborted || err instanceof AgentAbortedError) throw err instanceof AgentAbortedError ? err : new AgentAbortedError(turn.reason);
      if (!(err instanceof AgentError)) {
        throw new AgentError('agent_error', `the agent failed: ${err instanceof Error ? err.message : String(err)}`, false, { cause: err });
      }
      if (!err.retryable) throw err;
      last = err;
    }
    if (attempt < attempts && backoffMs > 0) {
      const pause = backoffMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
      try {
        await sleep(pause, undefined, { signal: turn });
      } catch {
        throw new AgentAbortedError(turn.reason);
      }
    }
  }
  throw last!;
}

/**
 * One attempt. A controller of its own rather than
 * `AbortSignal.any([turn, AbortSignal.timeout(ms)])`: its timer is cleared
 * and its listener removed as soon as the attempt ends, where a timeout
 * signal's timer lives on for the whole `timeoutMs` (30 s by default), which
 * at thousands of calls a second is tens of thousands of live timers. The
 * race also ends an attempt on time when a provider ignores its signal.
 */
async function attemptOnce(agent: Agent, input: AgentInput, timeoutMs: number): Promise<AgentOutput> {
  const controller = new AbortController();
  const turn = input.signal;
  let timer: NodeJS.Timeout | undefined;
  let onTurnAbort: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new AgentError('agent_timeout', `the agent gave no answer within ${timeoutMs} ms`, true);
      controller.abort(err);
      reject(err);
    }, timeoutMs);
    onTurnAbort = () => {
      controller.abort(turn.reason);
      reject(new AgentAbortedError(turn.reason));
    };
    turn.addEventListener('abort', onTurnAbort, { once: true });
  });
  try {
    const run = (async () => agent.run({ ...input, signal: controller.signal }))();
    // The race may settle first; the run's own late rejection is then expected and not an unhandled one.
    run.catch(() => {});
    return await Promise.race([run, stopped]);
  } finally {
    clearTimeout(timer);
    turn.removeEventListener('abort', onTurnAbort!);
  }
}
