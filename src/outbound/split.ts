/** The Cloud API's limit on a text body. */
export const DEFAULT_MAX_PART = 4096;

// Boundaries from the most to the least natural, each as "the part may end
// right before index i". A cut is only taken at a level when it keeps at least
// half a part: every part is one more message to the same customer, and the
// pair rate limit (about one per 6 s) makes many small parts slow.
const PARAGRAPH = /\n[ \t]*\n/g;
const LINE = /\n/g;
const SENTENCE = /[.!?…。！？](?:["'”’»)\]]*)(?=\s)/g;
const WORD = /\s/g;

let segmenter: Intl.Segmenter | undefined;

/**
 * Splits a text into parts of at most `max` UTF-16 code units (the Cloud
 * API's limit is 4,096 characters, and a code unit never counts for less than
 * one) at paragraph, then line, then sentence, then word boundaries, and only
 * when there is none, between graphemes, so a surrogate pair (an emoji) is
 * never cut. Whitespace at a cut is dropped; no part is empty; a text that
 * fits is returned as it is. An empty or blank text gives no parts.
 */
export function splitText(text: string, max: number = DEFAULT_MAX_PART): string[] {
  if (!Number.isInteger(max) || max < 2) throw new RangeError(`max must be an integer of at least 2, got ${max}`);
  if (text.trim().length === 0) return [];
  if (text.length <= max) return [text];

  const parts: string[] = [];
  let rest = text;
  while (rest.length > max) {
    const cut = findCut(rest, max);
    const part = rest.slice(0, cut).trimEnd();
    if (part.length > 0) parts.push(part);
    rest = rest.slice(cut).trimStart();
  }
  if (rest.length > 0) parts.push(rest);
  return parts;
}

/** Where to end the next part of `s` (longer than max): an index in (0, max]. */
function findCut(s: string, max: number): number {
  const window = s.slice(0, max + 1);
  const half = max >> 1;
  let fallback = 0;
  for (const [re, after] of [
    [PARAGRAPH, false],
    [LINE, false],
    [SENTENCE, true],
    [WORD, false],
  ] as const) {
    const at = lastMatch(re, window, max, after);
    if (at >= half) return at;
    if (at > fallback) fallback = at;
  }
  // No natural boundary in the second half: end at the latest one rather than
  // cut through a long unbroken run (a URL, a code), which then starts a part.
  if (fallback > 0) return fallback;
  return graphemeCut(s, max);
}

/**
 * The last index ≤ max where a part may end at this boundary: before the
 * match, or after it for sentence ends (the punctuation stays with its
 * sentence). 0 when there is none. `window` reaches one past max, so a
 * boundary right after the last allowed character is seen too.
 */
function lastMatch(re: RegExp, window: string, max: number, after: boolean): number {
  re.lastIndex = 0;
  let best = 0;
  for (let m = re.exec(window); m !== null; m = re.exec(window)) {
    const at = after ? m.index + m[0].length : m.index;
    if (at <= max && at > best) best = at;
    if (m[0].length === 0) re.lastIndex++;
  }
  return best;
}

/** The last grapheme boundary ≤ max (never inside a surrogate pair or an emoji sequence). */
function graphemeCut(s: string, max: number): number {
  segmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  // Segment only what is needed: graphemes are short, so a little beyond max suffices.
  const slice = s.slice(0, max + 64);
  let best = 0;
  for (const { index } of segmenter.segment(slice)) {
    if (index > max) break;
    best = index;
  }
  if (best > 0) return best;
  // One grapheme longer than a part (a pathological run of combining marks):
  // cut it, but still never between the halves of a surrogate pair.
  const c = s.charCodeAt(max - 1);
  return c >= 0xd800 && c <= 0xdbff ? max - 1 : max;
}
