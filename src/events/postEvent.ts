import { request, type Dispatcher } from 'undici';
import { EgressRefusedError } from '../shared/egress.ts';
import { SIGNATURE_HEADER, signRequest, TIMESTAMP_HEADER } from '../shared/requestSignature.ts';

/** How much of a receiver's answer is read: its status is what counts; the rest is thrown away. */
export const MAX_RECEIVER_ANSWER_BYTES = 64 * 1024;

/** What one attempt to post an event gave. */
export interface PostResult {
  ok: boolean;
  /** The receiver's HTTP status; null when there was no answer. */
  status: number | null;
  ms: number;
  /** Why it failed, for the delivery log (never the secret). */
  error: string | null;
}

/**
 * POSTs one event's JSON body to a receiver, signed with the subscription's
 * secret like an `http` agent request (X-Wagate-Timestamp,
 * X-Wagate-Signature). A 2xx answer is a delivery; anything else (another
 * status, a redirect, which is never followed, a timeout, a refused or
 * unreachable address) is a failure to retry. `dispatcher` applies the
 * egress policy.
 */
export async function postEvent(dispatcher: Dispatcher, url: string, secret: string, body: string, timeoutMs: number): Promise<PostResult> {
  const started = performance.now();
  const timestamp = Math.floor(Date.now() / 1000);
  const signal = AbortSignal.timeout(timeoutMs);
  const ms = () => Math.round(performance.now() - started);
  try {
    const res = await request(url, {
      method: 'POST',
      dispatcher,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'wagate-events',
        [TIMESTAMP_HEADER]: String(timestamp),
        [SIGNATURE_HEADER]: signRequest(secret, timestamp, body),
      },
      body,
      signal,
    });
    // Read (at most the cap) so the connection can be reused; a larger answer is cut off, which does not change the verdict.
    await res.body.dump({ limit: MAX_RECEIVER_ANSWER_BYTES }).catch(() => {});
    const status = res.statusCode;
    if (status >= 200 && status < 300) return { ok: true, status, ms: ms(), error: null };
    const redirect = status >= 300 && status < 400 ? ' (a redirect, not followed)' : '';
    return { ok: false, status, ms: ms(), error: `HTTP ${status}${redirect}` };
  } catch (err) {
    if (signal.aborted) return { ok: false, status: null, ms: ms(), error: `no answer within ${timeoutMs} ms` };
    if (err instanceof EgressRefusedError) return { ok: false, status: null, ms: ms(), error: `refused by the egress policy: ${err.message}` };
    const code = (err as { code?: unknown })?.code;
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, status: null, ms: ms(), error: `unreachable: ${typeof code === 'string' ? code + ' ' : ''}${message}`.slice(0, 500) };
  }
}
