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

/**
 * A message other than plain text, as the Cloud API takes it: `type`
 * (template, interactive, image, document, reaction) and the object of that
 * type (`{"type":"interactive","interactive":{…}}` on the wire).
 */
export interface RichContent {
  type: string;
  content: Record<string, unknown>;
}

/** What the sends take beside the message. */
export interface SendOptions {
  /** Travels as `biz_opaque_callback_data` and comes back in status webhooks. */
  callbackData: string;
  /** The wamid of the message this one answers (`context.message_id`): shown as a quoted reply. */
  contextWamid?: string | null;
  signal?: AbortSignal;
}

/** A file to upload through the media endpoint. */
export interface MediaFile {
  bytes: Uint8Array;
  mimeType: string;
  filename: string;
}

/** One page of a WhatsApp Business Account's message templates. */
export interface TemplatePage {
  /** Meta's template objects, as they came. */
  data: unknown[];
  /** The cursor of the next page; null on the last one. */
  after: string | null;
}

/** The Cloud API as the gateway uses it. */
export interface CloudApi {
  /**
   * One text message (≤ 4,096 characters). `callbackData` travels as
   * `biz_opaque_callback_data` and comes back in status webhooks.
   * Throws CloudApiError.
   */
  sendText(channel: SendChannel, to: Recipient, body: string, opts: SendOptions): Promise<{ wamid: string }>;
  /** A template, interactive, media or reaction message. Throws CloudApiError. */
  sendRich(channel: SendChannel, to: Recipient, message: RichContent, opts: SendOptions): Promise<{ wamid: string }>;
  /** Uploads a file (`POST /{phone-number-id}/media`) and returns its media id. Throws CloudApiError. */
  uploadMedia(channel: SendChannel, file: MediaFile, signal?: AbortSignal): Promise<{ id: string }>;
  /** One page of `GET /{waba-id}/message_templates`. Throws CloudApiError. */
  listTemplates(wabaId: string, accessToken: string, after: string | null): Promise<TemplatePage>;
  /** Marks a customer message read, optionally with a typing indicator. Throws CloudApiError. */
  markRead(channel: SendChannel, messageWamid: string, typing: boolean): Promise<void>;
  close(): Promise<void>;
}
