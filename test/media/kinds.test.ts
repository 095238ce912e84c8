import { describe, expect, it } from 'vitest';
import { baseMime, isAllowedMediaUrl, maxBytesOf, typeFits } from '../../src/media/kinds.ts';

describe('what media may be fetched and kept', () => {
  const api = 'https://graph.facebook.com/v25.0';

  it("follows only Meta's media hosts over https, or the configured Cloud API's own origin", () => {
    expect(isAllowedMediaUrl('https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1&ext=2&hash=x', api)).toBe(true);
    expect(isAllowedMediaUrl('https://scontent.xx.fbcdn.net/v/t1/abc.jpg', api)).toBe(true);
    expect(isAllowedMediaUrl('https://mmg.whatsapp.net/d/f/abc.enc', api)).toBe(true);
    expect(isAllowedMediaUrl('https://graph.facebook.com/v25.0/123', api)).toBe(true);
    expect(isAllowedMediaUrl('http://lookaside.fbsbx.com/x', api)).toBe(false);
    expect(isAllowedMediaUrl('https://lookaside.fbsbx.com:8443/x', api)).toBe(false);
    expect(isAllowedMediaUrl('https://evil-fbcdn.net/x', api)).toBe(false);
    expect(isAllowedMediaUrl('https://fbcdn.net.evil.com/x', api)).toBe(false);
    expect(isAllowedMediaUrl('https://user:pw@lookaside.fbsbx.com/x', api)).toBe(false);
    expect(isAllowedMediaUrl('http://169.254.169.254/latest/meta-data', api)).toBe(false);
    expect(isAllowedMediaUrl('http://127.0.0.1:9000/x', 'http://127.0.0.1:8000/v25.0')).toBe(false);
    expect(isAllowedMediaUrl('http://127.0.0.1:8000/media-download/1', 'http://127.0.0.1:8000/v25.0')).toBe(true);
    expect(isAllowedMediaUrl('not a url', api)).toBe(false);
  });

  it("applies Meta's size limit of each type", () => {
    expect(maxBytesOf('audio', false)).toBe(16 * 1024 * 1024);
    expect(maxBytesOf('image', false)).toBe(5 * 1024 * 1024);
    expect(maxBytesOf('sticker', false)).toBe(100 * 1024);
    expect(maxBytesOf('sticker', true)).toBe(500 * 1024);
    expect(maxBytesOf('document', false)).toBe(100 * 1024 * 1024);
    expect(maxBytesOf('video', false)).toBe(16 * 1024 * 1024);
  });

  it('compares the real type with the declared one', () => {
    expect(baseMime('audio/ogg; codecs=opus')).toBe('audio/ogg');
    expect(typeFits('audio', 'audio/ogg; codecs=opus', 'audio/ogg; codecs=opus')).toBe(true);
    expect(typeFits('audio', 'audio/mp4', 'video/mp4')).toBe(true);
    expect(typeFits('image', 'image/jpeg', 'image/png')).toBe(true);
    expect(typeFits('image', 'image/jpeg', 'application/pdf')).toBe(false);
    expect(typeFits('image', 'image/jpeg', null)).toBe(false);
    expect(typeFits('video', 'video/mp4', 'image/png')).toBe(false);
    expect(typeFits('document', 'application/pdf', 'application/pdf')).toBe(true);
    expect(typeFits('document', 'application/pdf', 'application/zip')).toBe(false);
    expect(typeFits('document', 'text/csv', null)).toBe(true);
    expect(typeFits('document', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'application/zip')).toBe(true);
    expect(typeFits('document', 'text/plain', 'application/x-msdownload')).toBe(false);
  });
});
