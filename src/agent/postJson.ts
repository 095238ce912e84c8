import { Agent as UndiciAgent, request, type Dispatcher } from 'undici';
import { EgressRefusedError, type EgressPolicy } from '../shared/egress.ts';
import { createEgressDispatcher } from '../shared/egressDispatcher.ts';
import { AgentError } from './types.ts';

/**
 * The largest answer body read from an agent endpoint. A chat answer is a few
 * kilobytes; anything this large is a misbehaving endpoint, not an answer.
 */
export const MAX_ANSWER_BYTES = 1024 * 1024;

/** How much of an error body goes into an AgentError's message (for logs only). */
const SNIPPET_CHARS = 300;

/**
 * A keep-alive dispatcher for agent calls. undici's Agent keeps one
 * connection pool per origin, so the default model endpoint and every
 * tenant's own endpoint each reuse their connections. Connections per origin
 * are not capped here: the number of turns in flight (WAGATE_MAX_INFLIGHT)
 * already bounds them, and a cap would queue calls behind it unseen.
 * Undici's `request` rather than the global `fetch`: it costs several times
 * less CPU per call (docs/architecture.md, "Performance habits").
 * With `egress`, every connection it opens goes through that policy: the
 * dispatcher for URLs a tenant sets (docs/security.md). Without, it is for
 * the operator's own URLs only.
 */
export function createAgentDispatcher(opts: { connectionsPerOrigin?: number | null; egress?: EgressPolicy } = {}): Dispatcher {
  const options = {
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    connections: opts.connectionsPerOrigin ?? null,
  };
  return opts.egress ? createEgressDispatcher(opts.egress, options) : new UndiciAgent(options);
}

/**
 * POSTs a JSON body and returns the parsed JSON answer. Throws:
 * - the signal's reason when `signal` aborts (the caller tells a timeout from a cancel);
 * - AgentError `agent_network` (retryable) when the endpoint cannot be reached;
 * - AgentError `agent_egress_refused` (not retryable) when the egress policy refuses the destination;
 * - AgentError `agent_http_<status>`, retryable for 408, 429 and 5xx only; a 3xx is not followed;
 * - AgentError `agent_invalid_answer` (retryable) for a body that is not JSON or too large.
 * Error messages may quote the start of the endpoint's body: they are for logs, never for customers.
 */
export async function postJson(
  dispatcher: Dispatcher,
  url: string,
  headers: Record<string, string>,
  body: string,
  signal: AbortSignal,
): Promise<unknown> {
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      method: 'POST',
      dispatcher,
      headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
      body,
      signal,
    });
  } catch (err) {
    throw classify(err, signal, url);
  }
  let text: string;
  try {
    text = await readCapped(res.body, MAX_ANSWER_BYTES);
  } catch (err) {
    throw classify(err, signal, url);
  }
  const status = res.statusCode;
  if (status < 200 || status >= 300) {
    const retryable = status === 408 || status === 429 || status >= 500;
    // A redirect could lead anywhere, past the egress policy's save-time check: it is a failure, never followed.
    const redirect = status >= 300 && status < 400 ? ' (a redirect, not followed)' : '';
    throw new AgentError(`agent_http_${status}`, `agent endpoint ${origin(url)} answered HTTP ${status}${redirect}: ${snippet(text)}`, retryable);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new AgentError('agent_invalid_answer', `agent endpoint ${origin(url)} answered a body that is not JSON: ${snippet(text)}`, true, { cause: err });
  }
}

class BodyTooLargeError extends Error {}

async function readCapped(body: Dispatcher.ResponseData['body'], max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > max) {
      body.destroy();
      throw new BodyTooLargeError(`answer larger than ${max} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  // Concatenate before decoding so a multi-byte character split across chunks survives.
  return chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks, size).toString('utf8');
}

function classify(err: unknown, signal: AbortSignal, url: string): unknown {
  if (signal.aborted) return signal.reason;
  if (err instanceof AgentError) return err;
  if (err instanceof EgressRefusedError) return new AgentError('agent_egress_refused', `agent endpoint ${origin(url)} refused: ${err.message}`, false, { cause: err });
  if (err instanceof BodyTooLargeError) return new AgentError('agent_invalid_answer', `agent endpoint ${origin(url)}: ${err.message}`, true);
  const code = (err as { code?: unknown })?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'UND_ERR_INVALID_ARG' || err instanceof TypeError) {
    return new AgentError('agent_bad_request', `agent request to ${origin(url)} is invalid: ${message}`, false, { cause: err });
  }
  if (code === 'UND_ERR_CLOSED' || code === 'UND_ERR_DESTROYED') {
    return new AgentError('agent_closed', 'agent calls are closed (shutting down)', false, { cause: err });
  }
  return new AgentError('agent_network', `agent endpoint ${origin(url)} unreachable: ${typeof code === 'string' ? code + ' ' : ''}${message}`, true, { cause: err });
}

function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}

function snippet(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  if (!t) return '(empty body)';
  return t.length > SNIPPET_CHARS ? t.slice(0, SNIPPET_CHARS) + '…' : t;
}
