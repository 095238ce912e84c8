import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type Conversation, type Template } from './api.ts';
import { fullTime, shortTime } from './format.ts';

/** Whether the 24-hour customer service window is open now. */
export function windowOpen(conv: Conversation, now = Date.now()): boolean {
  return conv.windowClosesAt !== null && Date.parse(conv.windowClosesAt) > now;
}

/** "Window open until 14:05" or "Window closed: only templates". */
export function WindowState(props: { conv: Conversation }) {
  const { conv } = props;
  const open = windowOpen(conv);
  const at = conv.windowClosesAt;
  const label = open
    ? `Window open until ${shortTime(at!)}`
    : at
      ? `Window closed since ${shortTime(at)}: only templates`
      : 'No customer message yet: only templates';
  return h('span', { class: `window-state ${open ? 'open' : 'closed'}`, role: 'status', title: at ? fullTime(at) : undefined }, label);
}

const VAR = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;
const varsOf = (text: string | undefined) => [...new Set([...(text ?? '').matchAll(VAR)].map((m) => m[1]))];

/** What a template asks for: its body variables, a header variable, a media or location header, URL buttons that take a suffix. */
function needs(t: Template) {
  const body = t.components.find((c) => c.type.toUpperCase() === 'BODY');
  const header = t.components.find((c) => c.type.toUpperCase() === 'HEADER');
  const buttons = t.components.find((c) => c.type.toUpperCase() === 'BUTTONS')?.buttons ?? [];
  const format = header ? (header.format ?? 'TEXT').toUpperCase() : null;
  return {
    body: body?.text ?? '',
    bodyVars: varsOf(body?.text),
    headerVar: format === 'TEXT' ? (varsOf(header?.text)[0] ?? null) : null,
    headerMedia: format === 'IMAGE' || format === 'DOCUMENT' || format === 'VIDEO' ? format.toLowerCase() : null,
    headerLocation: format === 'LOCATION',
    // A button is named by its index among all the template's buttons.
    urlButtons: buttons.flatMap((b, index) => (b.type.toUpperCase() === 'URL' && varsOf(b.url).length > 0 ? [{ index, text: b.text ?? '', url: b.url ?? '' }] : [])),
  };
}

/**
 * Send a template: pick one of the channel's approved templates, fill its
 * parameters (and header), send. Open by itself when the window is closed.
 */
export function TemplateSender(props: { conv: Conversation; onSent: () => void }) {
  const { conv } = props;
  const [templates, setTemplates] = useState<Template[] | null>(null);
  const [chosen, setChosen] = useState('');
  const [values, setValues] = useState<Record<string, string>>({});
  const [headerText, setHeaderText] = useState('');
  const [headerUrl, setHeaderUrl] = useState('');
  const [place, setPlace] = useState<Record<string, string>>({});
  const [suffixes, setSuffixes] = useState<Record<number, string>>({});
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = async () => {
    try {
      setTemplates((await api.templates(conv.channelId)).items);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  useEffect(() => {
    setChosen('');
    setValues({});
    void load();
  }, [conv.channelId]);

  const template = templates?.find((t) => `${t.name}|${t.language}` === chosen) ?? null;
  const need = template ? needs(template) : null;

  const sync = async () => {
    setBusy(true);
    setError(null);
    try {
      const r = await api.syncTemplates(conv.channelId);
      const e = r.channels.find((c) => c.error)?.error;
      setNote(e ? null : `Synced ${r.channels.reduce((n, c) => n + c.synced, 0)} templates.`);
      if (e) setError(e.message);
      await load();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  const send = async (ev: Event) => {
    ev.preventDefault();
    if (!template || !need || busy) return;
    setBusy(true);
    setError(null);
    setNote(null);
    const named = template.parameterFormat.toUpperCase() === 'NAMED';
    const parameters = named ? Object.fromEntries(need.bodyVars.map((v) => [v, values[v] ?? ''])) : need.bodyVars.map((v) => values[v] ?? '');
    const body: Record<string, unknown> = { name: template.name, language: template.language, parameters };
    if (need.headerVar) body.header = { text: headerText };
    if (need.headerMedia) body.header = { type: need.headerMedia, url: headerUrl };
    if (need.headerLocation) {
      const num = (v: string | undefined) => (v?.trim() ? Number(v) : undefined);
      const text = (v: string | undefined) => (v?.trim() ? v.trim() : undefined);
      body.header = { type: 'location', latitude: num(place.latitude), longitude: num(place.longitude), name: text(place.name), address: text(place.address) };
    }
    if (need.urlButtons.length) body.buttons = need.urlButtons.map((b) => ({ index: b.index, parameters: [suffixes[b.index] ?? ''] }));
    try {
      await api.sendTemplate(conv.id, body);
      setValues({});
      setHeaderText('');
      setHeaderUrl('');
      setPlace({});
      setSuffixes({});
      setNote(`Template ${template.name} queued.`);
      props.onSent();
    } catch (err) {
      setError(err instanceof ApiError || err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  const input = (id: string, label: string, value: string, set: (v: string) => void) =>
    h('label', { class: 'tpl-field', for: id }, label, h('input', { id, value, maxLength: 1024, onInput: (e: Event) => set((e.target as HTMLInputElement).value) }));

  return h(
    'details',
    { class: 'template-sender', open: !windowOpen(conv) },
    h('summary', null, 'Send a template'),
    h(
      'form',
      { onSubmit: send },
      h(
        'div',
        { class: 'tpl-row' },
        h('label', { for: 'tpl-choice' }, 'Template'),
        h(
          'select',
          { id: 'tpl-choice', value: chosen, onChange: (e: Event) => ((setChosen((e.target as HTMLSelectElement).value), setValues({}), setPlace({}), setSuffixes({}))) },
          h('option', { value: '' }, templates === null ? 'Loading…' : templates.length ? 'Choose an approved template' : 'No approved templates: sync them'),
          (templates ?? []).map((t) => h('option', { value: `${t.name}|${t.language}`, key: t.id }, `${t.name} (${t.language}, ${(t.category ?? '').toLowerCase()})`)),
        ),
        h('button', { type: 'button', disabled: busy, onClick: () => void sync() }, 'Sync templates'),
      ),
      need ? h('p', { class: 'tpl-body muted' }, need.body) : null,
      need?.headerVar ? input('tpl-header', `Header: ${need.headerVar}`, headerText, setHeaderText) : null,
      need?.headerMedia ? input('tpl-media', `Header ${need.headerMedia} URL`, headerUrl, setHeaderUrl) : null,
      need?.headerLocation
        ? (['latitude', 'longitude', 'name', 'address'] as const).map((k) =>
            input(`tpl-location-${k}`, `Location ${k}${k === 'name' || k === 'address' ? ' (optional)' : ''}`, place[k] ?? '', (x) => setPlace((cur) => ({ ...cur, [k]: x }))),
          )
        : null,
      (need?.urlButtons ?? []).map((b) => input(`tpl-button-${b.index}`, `Button "${b.text}": ${b.url}`, suffixes[b.index] ?? '', (x) => setSuffixes((cur) => ({ ...cur, [b.index]: x })))),
      (need?.bodyVars ?? []).map((v) => input(`tpl-var-${v}`, `{{${v}}}`, values[v] ?? '', (x) => setValues((cur) => ({ ...cur, [v]: x })))),
      h('div', { class: 'reply-foot' }, h('span', { class: 'muted' }, 'Templates go out inside or outside the window; the bot keeps answering.'), h('button', { type: 'submit', class: 'primary', disabled: busy || !template }, 'Send template')),
      note ? h('p', { class: 'muted', role: 'status' }, note) : null,
      error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    ),
  );
}
