import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { AppError } from './errors.ts';

// AES-256-GCM. Stored as "v2:" + key id + ":" + base64(iv | tag | ciphertext); the
// key id names the key that encrypted it, so a process holding two keys during a
// rotation knows which to use, and a wrong key is reported as such. The older
// "v1:" form (no key id) is still read: each key given is tried, and the tag
// tells which one is right.
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The keys a process decrypts with: one key, or the current key first and the others after it. */
export type SecretKeys = Buffer | readonly Buffer[];

/** Thrown when no key given decrypts a stored secret (or the text was altered). */
export class SecretKeyMismatchError extends AppError {
  constructor(message: string) {
    super(500, 'secret_key_mismatch', message);
    this.name = 'SecretKeyMismatchError';
  }
}

/**
 * A key's public name: 8 hex characters of a hash of it. It says which key
 * encrypted a secret without saying anything usable about the key.
 */
export function keyId(key: Buffer): string {
  return createHash('sha256').update('wagate-secret-key-id:').update(key).digest('hex').slice(0, 8);
}

/** Encrypts a secret (access token, model key) for storage, with `key`. */
export function encrypt(key: Buffer, plain: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return `v2:${keyId(key)}:` + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

/** The key id a stored secret names, or null for the older form that names none. */
export function storedKeyId(stored: string): string | null {
  const m = /^v2:([0-9a-f]{8}):/.exec(stored);
  return m ? m[1] : null;
}

/** Decrypts what `encrypt` stored with any of `keys`; throws SecretKeyMismatchError if none fits or the text was altered. */
export function decrypt(keys: SecretKeys, stored: string): string {
  const list = Buffer.isBuffer(keys) ? [keys] : keys;
  let raw: Buffer;
  let candidates: readonly Buffer[];
  if (stored.startsWith('v2:')) {
    const id = storedKeyId(stored);
    if (!id) throw new Error('unknown secret format');
    candidates = list.filter((k) => keyId(k) === id);
    if (candidates.length === 0) throw new SecretKeyMismatchError(`the secret was encrypted with key ${id}, which is not one of the keys given`);
    raw = Buffer.from(stored.slice(12), 'base64');
  } else if (stored.startsWith('v1:')) {
    candidates = list;
    raw = Buffer.from(stored.slice(3), 'base64');
  } else {
    throw new Error('unknown secret format');
  }
  for (const key of candidates) {
    const plain = open(key, raw);
    if (plain !== null) return plain;
  }
  throw new SecretKeyMismatchError('no key given decrypts the secret (wrong key, or the stored text was altered)');
}

function open(key: Buffer, raw: Buffer): string | null {
  if (key.length !== 32) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}

/** A new API key: random, prefixed `wgk_`. Shown once; only its hash is stored. */
export function newApiKey(): string {
  return 'wgk_' + randomBytes(24).toString('base64url');
}

/** A new dashboard session token: 256 random bits. Only its hash is stored. */
export function newSessionToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The stored form of an API key or session token. They are 192+ random bits, so a fast hash is enough. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Constant-time comparison of two strings. */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  if (ab.length !== bb.length) {
    timingSafeEqual(ab, ab);
    return false;
  }
  return timingSafeEqual(ab, bb);
}
