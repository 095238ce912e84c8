import { describe, expect, it } from 'vitest';
import { parseTextForm, textFormOf, toAgentMessage, toAgentMessages, type MessageRow } from '../../src/agent/textForm.ts';

const row = (type: string, body: string | null, media: Record<string, unknown> | null = null, over: Partial<MessageRow> = {}): MessageRow => ({
  direction: 'inbound',
  author: 'customer',
  type,
  body,
  media,
  ...over,
});

describe('textForm', () => {
  it.each([
    ['text', row('text', 'Is the shop open?'), 'Is the shop open?'],
    ['image with caption', row('image', 'my bike', { id: 'm1', mime_type: 'image/jpeg', caption: 'my bike' }), '[image] my bike'],
    ['image without caption', row('image', null, { id: 'm1' }), '[image]'],
    ['image with the caption only in media', row('image', null, { id: 'm1', caption: 'from media' }), '[image] from media'],
    ['document', row('document', 'March', { id: 'm2', filename: 'report.pdf', caption: 'March' }), '[document report.pdf] March'],
    ['document without file name', row('document', null, { id: 'm2' }), '[document]'],
    ['audio', row('audio', null, { id: 'm3', voice: true }), '[audio]'],
    ['video', row('video', 'the noise', { id: 'm4', caption: 'the noise' }), '[video] the noise'],
    ['sticker', row('sticker', null, { id: 'm5', animated: false }), '[sticker]'],
    ['location', row('location', 'Acme Bikes, Main St 1'), '[location] Acme Bikes, Main St 1'],
    ['location without name', row('location', null), '[location]'],
    ['contacts', row('contacts', 'Ana Ruiz, Bo Li'), '[contacts] Ana Ruiz, Bo Li'],
    ['interactive reply', row('interactive', 'Book a repair'), 'Book a repair'],
    ['button reply', row('button', 'Yes, please'), 'Yes, please'],
  ])('%s', (_what, r, expected) => {
    expect(textFormOf(r)).toBe(expected);
  });

  it.each([
    ['reaction', row('reaction', '👍')],
    ['unsupported', row('unsupported', null)],
    ['system', row('system', 'User changed number')],
    ['order', row('order', 'please send these')],
    ['an unknown type', row('ephemeral', 'x')],
    ['an empty text', row('text', '   ')],
    ['an interactive reply without title', row('interactive', null)],
  ])('skips %s', (_what, r) => {
    expect(textFormOf(r)).toBeNull();
    expect(toAgentMessage(r)).toBeNull();
  });

  it('maps the customer to user and agent and operator to assistant', () => {
    expect(toAgentMessage(row('text', 'hi'))).toEqual({ role: 'user', content: 'hi' });
    expect(toAgentMessage(row('text', 'Hello!', null, { direction: 'outbound', author: 'agent' }))).toEqual({ role: 'assistant', content: 'Hello!' });
    expect(toAgentMessage(row('image', 'here', null, { direction: 'outbound', author: 'operator' }))).toEqual({ role: 'assistant', content: '[image] here' });
  });

  it('keeps the order and leaves out what carries nothing', () => {
    const rows = [
      row('text', 'hi'),
      row('reaction', '❤️'),
      row('text', 'Hello!', null, { direction: 'outbound', author: 'agent' }),
      row('image', 'this', { id: 'x' }),
      row('unsupported', null),
    ];
    expect(toAgentMessages(rows)).toEqual([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: '[image] this' },
    ]);
  });

  it('reads its own forms back', () => {
    const none = { facts: [], transcript: null, excerpt: null, unavailable: null };
    expect(parseTextForm('[image] my bike')).toEqual({ kind: 'image', text: 'my bike', ...none });
    expect(parseTextForm('[document report.pdf] March')).toEqual({ kind: 'document', text: 'March', ...none, facts: ['report.pdf'] });
    expect(parseTextForm('[audio]')).toEqual({ kind: 'audio', text: '', ...none });
    expect(parseTextForm('plain [image] text')).toEqual({ kind: null, text: 'plain [image] text', ...none });
  });

  it('gives the agent what the media lane understood of a file, and reads it back', () => {
    const pdf = { type: 'document', body: 'March', media: { filename: 'invoice.pdf', file: { status: 'ready', mime: 'application/pdf', size: 12_800, pages: 3, excerpt: 'Invoice 4711 total 99 EUR' } } };
    expect(textFormOf(pdf)).toBe('[document invoice.pdf, application/pdf, 13 KB, 3 pages] March\ntext: Invoice 4711 total 99 EUR');
    const voice = { type: 'audio', body: null, media: { voice: true, file: { status: 'ready', size: 9_000, duration: 7.4, transcript: 'where is my parcel' } } };
    expect(textFormOf(voice)).toBe('[audio, 0:07, 9 KB] transcript: where is my parcel');
    const failed = { type: 'image', body: 'my bike', media: { file: { status: 'failed', error: 'too_large' } } };
    expect(textFormOf(failed)).toBe('[image] my bike\nnot available: too_large');
    expect(parseTextForm(textFormOf(pdf)!)).toEqual({ kind: 'document', text: 'March', facts: ['invoice.pdf', 'application/pdf', '13 KB', '3 pages'], transcript: null, excerpt: 'Invoice 4711 total 99 EUR', unavailable: null });
    expect(parseTextForm(textFormOf(voice)!)).toMatchObject({ kind: 'audio', text: '', facts: ['0:07', '9 KB'], transcript: 'where is my parcel' });
    expect(parseTextForm(textFormOf(failed)!)).toMatchObject({ kind: 'image', text: 'my bike', unavailable: 'too_large' });
  });
});
