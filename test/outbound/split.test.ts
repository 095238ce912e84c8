import { describe, expect, it } from 'vitest';
import { splitText } from '../../src/outbound/split.ts';

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const squash = (s: string) => s.replace(/\s+/g, '');

/** The invariants every split keeps. */
function checkParts(text: string, parts: string[], max: number) {
  expect(parts.length).toBeGreaterThan(0);
  for (const p of parts) {
    expect(p.length).toBeGreaterThan(0);
    expect(p.length).toBeLessThanOrEqual(max);
    expect(p.trim().length).toBeGreaterThan(0);
    expect(p).not.toMatch(LONE_SURROGATE);
  }
  expect(squash(parts.join(''))).toBe(squash(text));
  // Each part is the text's next stretch, in order.
  let from = 0;
  for (const p of parts) {
    const at = text.indexOf(p, from);
    expect(at).toBeGreaterThanOrEqual(from);
    expect(text.slice(from, at).trim()).toBe('');
    from = at + p.length;
  }
  expect(text.slice(from).trim()).toBe('');
}

/** A deterministic pseudo-random source (mulberry32). */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('splitText', () => {
  it('returns a text that fits unchanged, and nothing for a blank one', () => {
    expect(splitText('Hello!')).toEqual(['Hello!']);
    expect(splitText('  padded  ')).toEqual(['  padded  ']);
    expect(splitText('')).toEqual([]);
    expect(splitText(' \n\t ')).toEqual([]);
  });

  it('keeps exactly 4,096 characters in one part and splits 4,097', () => {
    const exact = 'word '.repeat(819) + 'x';
    expect(exact.length).toBe(4096);
    expect(splitText(exact)).toEqual([exact]);
    const over = exact + 'y';
    const parts = splitText(over);
    expect(parts).toHaveLength(2);
    checkParts(over, parts, 4096);
    // Cut at the last space, not inside "xy".
    expect(parts[1]).toBe('xy');
  });

  it('cuts at paragraph boundaries first', () => {
    const paragraphs = Array.from({ length: 9 }, (_, i) => `Paragraph ${i}. ` + 'Some words here. '.repeat(60).trim());
    const text = paragraphs.join('\n\n');
    const parts = splitText(text);
    checkParts(text, parts, 4096);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) {
      // Every part is a run of whole paragraphs.
      for (const para of p.split('\n\n')) expect(paragraphs).toContain(para);
    }
  });

  it('then at sentence ends, keeping the punctuation with its sentence', () => {
    const sentences = Array.from({ length: 200 }, (_, i) => `This is sentence number ${i}, which says something${i % 3 ? '!' : '.'}`);
    const text = sentences.join(' ');
    const parts = splitText(text, 1000);
    checkParts(text, parts, 1000);
    for (const p of parts.slice(0, -1)) expect(p).toMatch(/[.!]$/);
    for (const p of parts) expect(p).toMatch(/^This is sentence/);
  });

  it('then at line breaks before sentences', () => {
    const lines = Array.from({ length: 100 }, (_, i) => `- item ${i}: no full stop here`);
    const text = lines.join('\n');
    const parts = splitText(text, 500);
    checkParts(text, parts, 500);
    for (const p of parts) for (const line of p.split('\n')) expect(lines).toContain(line);
  });

  it('then between words, never inside one', () => {
    const words = Array.from({ length: 2000 }, (_, i) => `word${i}`);
    const text = words.join(' ');
    const parts = splitText(text, 300);
    checkParts(text, parts, 300);
    const known = new Set(words);
    for (const p of parts) for (const w of p.split(' ')) expect(known.has(w), w).toBe(true);
  });

  it('prefers a later word boundary to a paragraph break that would leave a tiny part', () => {
    const text = 'Hi.\n\n' + 'lorem ipsum '.repeat(500);
    const parts = splitText(text, 1000);
    checkParts(text, parts, 1000);
    expect(parts[0].length).toBeGreaterThan(500);
  });

  it('never cuts an emoji, even in a text without spaces', () => {
    for (const text of ['😀'.repeat(5000), 'a' + '😀'.repeat(3000), 'x'.repeat(4095) + '👍🏽' + 'y'.repeat(10)]) {
      const parts = splitText(text);
      checkParts(text, parts, 4096);
      expect(parts.join('')).toBe(text);
    }
  });

  it('keeps emoji sequences (ZWJ families, skin tones, flags) whole', () => {
    const family = '👨‍👩‍👧‍👦';
    const text = family.repeat(1000);
    const parts = splitText(text, 100);
    checkParts(text, parts, 100);
    expect(parts.join('')).toBe(text);
    for (const p of parts) expect(p.replaceAll(family, '')).toBe('');
    const flags = '🇵🇹🇧🇷'.repeat(300);
    for (const p of splitText(flags, 99)) expect(p.replaceAll('🇵🇹', '').replaceAll('🇧🇷', '')).toBe('');
  });

  it('splits a long unbroken run hard when it has to', () => {
    const url = 'https://example.com/' + 'a'.repeat(9000);
    const parts = splitText(url);
    checkParts(url, parts, 4096);
    expect(parts.join('')).toBe(url);
  });

  it('keeps its invariants on many random texts', () => {
    const next = rng(42);
    const pieces = ['word', 'longerword', 'é', 'ß', '😀', '👨‍👩‍👧', ' ', ' ', ' ', '. ', '! ', '\n', '\n\n', 'x'.repeat(30), '\t'];
    for (let round = 0; round < 300; round++) {
      let text = '';
      const len = 50 + Math.floor(next() * 800);
      while (text.length < len) text += pieces[Math.floor(next() * pieces.length)];
      const max = 8 + Math.floor(next() * 120);
      const parts = splitText(text, max);
      if (text.trim() === '') expect(parts).toEqual([]);
      else checkParts(text, parts, max);
    }
  });

  it('refuses a part size that cannot hold an emoji', () => {
    expect(() => splitText('abc', 1)).toThrow(RangeError);
    expect(() => splitText('abc', 2.5)).toThrow(RangeError);
  });
});
