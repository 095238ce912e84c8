/** The channel a message goes out through. */
export interface SendChannel {
  phoneNumberId: string;
  accessToken: string;
}

/** Who it goes to: the phone number when known, else the business-scoped user id. */
export interface Recipient {
  waId: string | null;
  userId: string | null;
}

/**
 * A Cloud API error, classified by Meta's error `code` (not the HTTP status).
 * `retryable` is true for network errors, HTTP 5xx and Meta's temporary codes (docs/behaviour.md, "Sending").
 */
export class CloudApiError extends Error {
  constructor(
    /** Meta's error code; 0 for network errors, the HTTP status when the body had no code. */
    readonly code: number,
    readonly title: string,
    readonly httpStatus: number | null,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(`${code} ${title}`, options);
    this.name = 'CloudApiError';
  }
}

/** The Cloud API as the gateway uses it. */
export interface CloudApi {
  /**
   * One text message (≤ 4,096 characters). `callbackData` travels as
   * `biz_opaque_callback_data` and comes back in status webhooks.
   * Throws CloudApiError.
   */
  sendText(channel: SendChannel, to: Recipient, body: string, opts: { callbackData: string; signal?: AbortSignal }): Promise<{ wamid: string }>;
  /** Marks a customer message read, optionally with a typing indicator. Throws CloudApiError. */
  markRead(channel: SendChannel, messageWamid: string, typing: boolean): Promise<void>;
  close(): Promise<void>;
}
