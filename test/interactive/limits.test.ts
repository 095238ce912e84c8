import { describe, expect, it } from 'vitest';
import { choiceOf, interactivePayload, interactiveProblem, interactiveTextForm, numberedText, type InteractiveChoice } from '../../src/agent/interactive.ts';
import { parseChoice, textFormOf } from '../../src/agent/textForm.ts';

const buttons = (...titles: string[]): InteractiveChoice => ({ kind: 'buttons', buttons: titles.map((t, i) => ({ id: `b${i}`, title: t })) });
const rows = (n: number, over: Partial<{ id: string; title: string; description: string }> = {}) =>
  Array.from({ length: n }, (_, i) => ({ id: `r${i}`, title: `Row ${i}`, ...over }));
const list = (sections: { title?: string; rows: { id: string; title: string; description?: string }[] }[], button = 'Open'): InteractiveChoice => ({ kind: 'list', list: { button, sections } });

describe("WhatsApp's interactive limits", () => {
  it('takes what Meta takes, at the edges', () => {
    expect(interactiveProblem('x'.repeat(1024), buttons('a'.repeat(20), 'B', 'C'))).toBeNull();
    expect(interactiveProblem('é'.repeat(1024), buttons('ü'.repeat(20)))).toBeNull(); // characters, not bytes
    expect(interactiveProblem('Pick', list([{ title: 'A'.repeat(24), rows: rows(5, { description: 'd'.repeat(72) }) }, { title: 'B', rows: rows(5).map((r) => ({ ...r, id: r.id + 'b' })) }], 'b'.repeat(20)))).toBeNull();
  });

  it.each([
    ['an empty body', '', buttons('A'), 'the body text is empty'],
    ['a body over 1,024 characters', 'x'.repeat(1025), buttons('A'), 'longer than 1024'],
    ['four buttons', 'x', buttons('A', 'B', 'C', 'D'), '4 buttons'],
    ['no buttons', 'x', buttons(), '0 buttons'],
    ['a title over 20 characters', 'x', buttons('a'.repeat(21)), 'button title'],
    ['an empty title', 'x', buttons(' '), 'button title'],
    ['the same title twice', 'x', buttons('A', 'A'), 'titles are not unique'],
    ['an id over 256 characters', 'x', { kind: 'buttons', buttons: [{ id: 'i'.repeat(257), title: 'A' }] } as InteractiveChoice, 'button id'],
    ['eleven rows in all', 'x', list([{ title: 'A', rows: rows(6) }, { title: 'B', rows: rows(5).map((r) => ({ ...r, id: r.id + 'b' })) }]), '11 rows'],
    ['eleven sections', 'x', list(Array.from({ length: 11 }, (_, i) => ({ title: `S${i}`, rows: [{ id: `r${i}`, title: 'r' }] }))), '11 sections'],
    ['a row title over 24', 'x', list([{ rows: rows(1, { title: 't'.repeat(25) }) }]), 'row title'],
    ['a description over 72', 'x', list([{ rows: rows(1, { description: 'd'.repeat(73) }) }]), 'description'],
    ['a list button over 20', 'x', list([{ rows: rows(1) }], 'b'.repeat(21)), 'list button'],
    ['untitled sections', 'x', list([{ rows: rows(1) }, { rows: [{ id: 'z', title: 'z' }] }]), 'needs a title'],
    ['the same row id twice', 'x', list([{ rows: [{ id: 'a', title: 'A' }, { id: 'a', title: 'B' }] }]), 'row ids are not unique'],
  ])('refuses %s', (_what, text, choice, problem) => {
    expect(interactiveProblem(text, choice)).toContain(problem);
  });

  it('the fallback is the text with every option numbered', () => {
    expect(numberedText('Pick one', buttons('A', 'B', 'C', 'D'))).toBe('Pick one\n1. A\n2. B\n3. C\n4. D');
    expect(numberedText('Sizes', list([{ title: 'S', rows: [{ id: 's', title: 'Small', description: 'up to 165 cm' }, { id: 'l', title: 'Large' }] }]))).toBe('Sizes\n1. Small: up to 165 cm\n2. Large');
  });

  it("the Cloud API object, and the text form the agent's history and the dashboard show", () => {
    const p = interactivePayload('Pick', buttons('A', 'B'));
    expect(p).toEqual({ type: 'button', body: { text: 'Pick' }, action: { buttons: [{ type: 'reply', reply: { id: 'b0', title: 'A' } }, { type: 'reply', reply: { id: 'b1', title: 'B' } }] } });
    expect(interactiveTextForm(p)).toBe('Pick\n[buttons: A (b0) | B (b1)]');
    const l = interactivePayload('Sizes', list([{ rows: [{ id: 's', title: 'Small' }] }], 'Open'));
    expect(l).toEqual({ type: 'list', body: { text: 'Sizes' }, action: { button: 'Open', sections: [{ rows: [{ id: 's', title: 'Small' }] }] } });
    expect(interactiveTextForm(l)).toBe('Sizes\n[list: Small (s)]');
  });

  it('a tap reads as [choice id] title, for buttons, list rows and template quick replies', () => {
    const tap = { type: 'button_reply', button_reply: { id: 'hours', title: 'Opening hours' } };
    expect(choiceOf('interactive', tap)).toEqual({ id: 'hours', title: 'Opening hours' });
    expect(textFormOf({ type: 'interactive', body: 'Opening hours', media: null, payload: tap })).toBe('[choice hours] Opening hours');
    expect(textFormOf({ type: 'interactive', body: 'Small', media: null, payload: { type: 'list_reply', list_reply: { id: 's', title: 'Small', description: 'd' } } })).toBe('[choice s] Small');
    expect(textFormOf({ type: 'button', body: 'Track it', media: null, payload: { payload: 'TRACK', text: 'Track it' } })).toBe('[choice TRACK] Track it');
    // An interactive message without a reply in it (the agent's own) is its body.
    expect(textFormOf({ type: 'interactive', body: 'Pick\n[buttons: A (a)]', media: null, payload: null })).toBe('Pick\n[buttons: A (a)]');
    expect(parseChoice('[choice hours] Opening hours')).toEqual({ id: 'hours', title: 'Opening hours' });
    expect(parseChoice('hours')).toBeNull();
  });
});
