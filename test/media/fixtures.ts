import sharp from 'sharp';
import { samplePdf } from '../../src/sandbox/sampleMedia.ts';

/** A small PNG made here (no binary files in the repository). */
export async function tinyPng(width = 64, height = 48): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 40 } } }).png().toBuffer();
}

/** A WebP sticker (512×512, as WhatsApp's are). */
export async function stickerWebp(): Promise<Buffer> {
  return sharp({ create: { width: 512, height: 512, channels: 4, background: { r: 0, g: 120, b: 255, alpha: 0.5 } } }).webp({ quality: 10 }).toBuffer();
}

/** A minimal PDF of one page per text, written by hand. */
export const minimalPdf = samplePdf;

/** An Ogg page header with an Opus head, followed by `bytes` of filler: what file-type recognises as a voice note. */
export function oggOpus(bytes = 4000): Buffer {
  const head = Buffer.alloc(28 + 19);
  head.write('OggS', 0, 'latin1');
  head[4] = 0; // version
  head[5] = 2; // beginning of stream
  head.writeUInt32LE(1, 14); // serial
  head[26] = 1; // one segment
  head[27] = 19; // of 19 bytes
  head.write('OpusHead', 28, 'latin1');
  head[36] = 1; // version
  head[37] = 1; // channels
  head.writeUInt32LE(48000, 40);
  return Buffer.concat([head, Buffer.alloc(bytes, 7)]);
}

/** The `ftyp` box that opens an MP4 video. */
export function mp4Header(): Buffer {
  return Buffer.from('000000186674797069736f6d0000020069736f6d6d703432', 'hex');
}
