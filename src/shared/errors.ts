/**
 * Errors with a stable snake_case `code` and the HTTP status they answer with.
 * The API's error handler renders them as {"error":{"code","message"}};
 * anything else becomes a generic internal error.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AppError';
  }
}

export const badRequest = (code: string, message: string) => new AppError(400, code, message);
export const unauthorized = (message = 'a valid API key is required') => new AppError(401, 'unauthorized', message);
export const forbidden = (message = 'this key may not do that') => new AppError(403, 'forbidden', message);
export const notFound = (what: string) => new AppError(404, 'not_found', `${what} not found`);
export const conflict = (code: string, message: string) => new AppError(409, code, message);
export const unavailable = (message = 'temporarily unavailable, try again') => new AppError(503, 'unavailable', message);

/** Coerces anything thrown into an Error. */
export function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(typeof err === 'string' ? err : JSON.stringify(err));
}
