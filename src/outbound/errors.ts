/**
 * Which Cloud API errors are worth retrying. Meta asks integrators to build
 * error handling on the error `code` (titles are being deprecated), and the
 * HTTP status of one code varies (a throughput limit may come as 400 or 429),
 * so the code decides; the status only matters when the body carried none.
 */

/** Meta's temporary codes (docs/behaviour.md, "Sending"): the same request may succeed later. */
export const TEMPORARY_CODES: ReadonlySet<number> = new Set([
  1, // API unknown
  2, // API service (temporary downtime)
  4, // API too many calls (app-level rate limit)
  80007, // WhatsApp Business Account rate limit
  130429, // throughput limit of the number reached
  131000, // something went wrong
  131016, // service unavailable
  131056, // pair rate limit: too many messages to one customer
  131057, // account in maintenance mode
]);

/** The pair rate limit: about one message per 6 s from one number to one customer. */
export const PAIR_RATE_LIMIT_CODE = 131056;

/** The code of errors that never reached Meta (connection refused, reset, timeout). */
export const NETWORK_ERROR_CODE = 0;

/**
 * True when a request that failed with this code may succeed if sent again.
 * `code` is Meta's error code, 0 for a network error, or the HTTP status when
 * the body carried no code (see CloudApiError). A 5xx or 429 without a Meta
 * code is temporary (a proxy or load balancer in front of the Graph API); a
 * Meta code outside the temporary list is permanent whatever the status.
 */
export function isTemporary(code: number, httpStatus: number | null): boolean {
  if (code === NETWORK_ERROR_CODE || TEMPORARY_CODES.has(code)) return true;
  const noMetaCode = httpStatus !== null && code === httpStatus;
  return noMetaCode && (httpStatus >= 500 || httpStatus === 429);
}
