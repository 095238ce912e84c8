import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decrypt, encrypt, keyId, SecretKeyMismatchError, storedKeyId } from '../../src/shared/secrets.ts';

/** A secret as versions before key ids stored it: "v1:" + base64(iv | tag | ciphertext). */
function v1(key: Buffer, plain: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return 'v1:' + Buffer.concat([iv, c.getAuthTag(), body]).toString('base64');
}

describe('secrets at rest', () => {
  const current = randomBytes(32);
  const previous = randomBytes(32);

  it('names the key that encrypted a secret, and decrypts with the right one of several keys', () => {
    const stored = encrypt(previous, 'EAAG-token');
    expect(storedKeyId(stored)).toBe(keyId(previous));
    expect(stored).not.toContain(previous.toString('hex').slice(0, 8));
    expect(decrypt([current, previous], stored)).toBe('EAAG-token');
    expect(decrypt(previous, stored)).toBe('EAAG-token');
  });

  it('reads secrets stored before key ids, with either key', () => {
    expect(decrypt([current, previous], v1(previous, 'old-secret'))).toBe('old-secret');
    expect(decrypt([current, previous], v1(current, 'old-secret-2'))).toBe('old-secret-2');
  });

  it('refuses a key that did not encrypt it, and altered text', () => {
    expect(() => decrypt(current, encrypt(previous, 'x'))).toThrow(SecretKeyMismatchError);
    expect(() => decrypt(current, v1(previous, 'x'))).toThrow(SecretKeyMismatchError);
    const stored = encrypt(current, 'abc');
    const altered = stored.slice(0, -4) + (stored.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect(() => decrypt(current, altered)).toThrow(SecretKeyMismatchError);
  });
});
