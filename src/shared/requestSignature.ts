import { createHmac } from 'node:crypto';

/** Header carrying `sha256=<hex HMAC>`. */
export const SIGNATURE_HEADER = 'X-Wagate-Signature';
/** Header carrying the unix time in seconds at which the request was signed. */
export const TIMESTAMP_HEADER = 'X-Wagate-Timestamp';

/**
 * The signature of a request wagate makes to a tenant's endpoint (the `http`
 * agent, event deliveries): `sha256=` and the lowercase hex HMAC-SHA256,
 * keyed with the tenant's secret, of
 * `<X-Wagate-Timestamp value> + "." + <the exact body bytes>`.
 * Signing the timestamp with the body lets a receiver refuse replays: check
 * the signature with a constant-time comparison, then refuse timestamps more
 * than a few minutes from its own clock.
 */
export function signRequest(secret: string, timestamp: number | string, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}
