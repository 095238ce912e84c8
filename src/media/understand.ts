import { readFile } from 'node:fs/promises';
import { FormData, request, type Dispatcher } from 'undici';
import { MediaError } from './download.ts';

/** Pages of a PDF read for its text, and characters kept of it (docs/media.md). */
export const PDF_MAX_PAGES = 20;
export const PDF_MAX_CHARS = 4_000;
/** A PDF larger than this is named, not read (unpdf parses it in memory). */
export const PDF_MAX_BYTES = 20 * 1024 * 1024;
/** The longest transcript kept, in characters. */
export const TRANSCRIPT_MAX_CHARS = 8_000;
/** The longer side of an image given to a model, in pixels. */
export const VISION_MAX_PX = 1024;

/** What reading a PDF gave. */
export interface PdfText {
  pages: number;
  /** The text of at most PDF_MAX_PAGES pages, whitespace folded, at most PDF_MAX_CHARS. */
  text: string;
}

/** The text of a PDF spool file, bounded in pages and characters. */
export async function pdfText(file: string): Promise<PdfText> {
  const { getDocumentProxy } = await import('unpdf');
  const doc = await getDocumentProxy(new Uint8Array(await readFile(file)));
  try {
    const parts: string[] = [];
    let chars = 0;
    for (let i = 1; i <= Math.min(doc.numPages, PDF_MAX_PAGES) && chars < PDF_MAX_CHARS; i++) {
      const page = await doc.getPage(i);
      const content = await page.getTextContent();
      const text = content.items.map((it) => ('str' in it ? it.str : '')).join(' ');
      parts.push(text);
      chars += text.length;
    }
    return { pages: doc.numPages, text: fold(parts.join('\n')).slice(0, PDF_MAX_CHARS) };
  } finally {
    await doc.destroy();
  }
}

const fold = (s: string) => s.replace(/\s+/g, ' ').trim();

/** Where and how to transcribe. */
export interface TranscriptionTarget {
  /** `{baseUrl}/audio/transcriptions`. */
  baseUrl: string;
  apiKey: string | null;
  model: string;
  /** The tenant-URL dispatcher (egress policy) for a tenant's own baseUrl, else the operator's. */
  dispatcher: Dispatcher;
}

/** What a transcription endpoint answered. */
export interface Transcript {
  text: string;
  language: string | null;
  duration: number | null;
}

/**
 * An OpenAI-compatible `POST {baseUrl}/audio/transcriptions` (multipart:
 * file, model, response_format json). The audio (at most Meta's 16 MB) is
 * read from its spool file for the form. Throws MediaError
 * `transcription_failed` (retryable for 408, 429, 5xx and network errors).
 */
export async function transcribe(file: string, mime: string, filename: string, target: TranscriptionTarget, signal?: AbortSignal): Promise<Transcript> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(await readFile(file))], { type: mime }), filename);
  form.set('model', target.model);
  form.set('response_format', 'json');
  const headers: Record<string, string> = { accept: 'application/json' };
  if (target.apiKey) headers.authorization = `Bearer ${target.apiKey}`;
  const q = target.baseUrl.indexOf('?');
  const url = (q < 0 ? target.baseUrl : target.baseUrl.slice(0, q)).replace(/\/+$/, '') + '/audio/transcriptions' + (q < 0 ? '' : target.baseUrl.slice(q));
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, { method: 'POST', dispatcher: target.dispatcher, headers, body: form, signal });
  } catch (err) {
    if (signal?.aborted) throw signal.reason ?? err;
    throw new MediaError('transcription_failed', `transcription endpoint unreachable: ${(err as Error).message}`, true);
  }
  const text = await res.body.text().catch(() => '');
  if (res.statusCode < 200 || res.statusCode >= 300) {
    const s = res.statusCode;
    throw new MediaError('transcription_failed', `transcription endpoint answered HTTP ${s}`, s === 408 || s === 429 || s >= 500);
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new MediaError('transcription_failed', 'transcription endpoint answered a body that is not JSON', true);
  }
  if (typeof json.text !== 'string') throw new MediaError('transcription_failed', 'transcription endpoint answered no text', false);
  return {
    text: json.text.trim().slice(0, TRANSCRIPT_MAX_CHARS),
    language: typeof json.language === 'string' ? json.language.slice(0, 50) : null,
    duration: typeof json.duration === 'number' && Number.isFinite(json.duration) ? json.duration : null,
  };
}

/** An image as a model takes it: a JPEG data URL at most VISION_MAX_PX on its longer side. */
export async function visionDataUrl(bytes: Buffer): Promise<string> {
  const { default: sharp } = await import('sharp');
  const jpeg = await sharp(bytes, { animated: false, limitInputPixels: 50_000_000 })
    .rotate()
    .resize({ width: VISION_MAX_PX, height: VISION_MAX_PX, fit: 'inside', withoutEnlargement: true })
    .flatten({ background: '#ffffff' })
    .jpeg({ quality: 80 })
    .toBuffer();
  return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
}
