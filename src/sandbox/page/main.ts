import { h, render } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

interface Customer {
  waId: string;
  name: string | null;
}

interface ChatMessage {
  id: string;
  wamid: string | null;
  fromMe: boolean;
  type: string;
  text: string | null;
  filename: string | null;
  /** Mine: delivered (stored by the gateway) or read (the business marked it read). Theirs: sent, delivered, read. */
  status: string;
  createdAt: string;
  /** Theirs: the reply buttons, list rows or template quick replies the customer can tap. */
  options?: Option[] | null;
  /** A list's button text (the rows open under it). */
  listButton?: string | null;
}

interface Option {
  id: string;
  title: string;
  description?: string;
}

/** What a tap sends back: a reply button, a list row, or a template's quick-reply button. */
function tapKind(m: ChatMessage): 'button_reply' | 'list_reply' | 'button' {
  if (m.type === 'template') return 'button';
  return m.listButton ? 'list_reply' : 'button_reply';
}

interface State {
  business: { name: string; displayPhoneNumber: string };
  customers: Customer[];
}

/** Customers to start with when the demo channel has none yet. */
const PRESETS: Customer[] = [
  { waId: '15550001001', name: 'Alice' },
  { waId: '15550001002', name: 'Bob' },
];

// WhatsApp shows "typing…" for up to 25 seconds or until the message arrives.
const TYPING_MS = 25_000;

async function json<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = (await res.json().catch(() => null)) as any;
  if (!res.ok) throw new Error(data?.error?.message ?? `request failed (${res.status})`);
  return data as T;
}

/** Sends a chosen file as the customer: its bytes as the body, what Meta's webhook says of it in the query. */
async function upload(path: string, file: File, query: Record<string, string | undefined>): Promise<{ wamid: string }> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v) q.set(k, v);
  const res = await fetch(`${path}?${q.toString()}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: file });
  const data = (await res.json().catch(() => null)) as any;
  if (!res.ok) throw new Error(data?.error?.message ?? `upload failed (${res.status})`);
  return data as { wamid: string };
}

/** What the file input offers for each kind. */
const ACCEPT: Record<string, string> = { image: 'image/*', audio: 'audio/*', document: '.pdf,.txt,.csv,.doc,.docx,.xls,.xlsx,application/pdf,text/*' };

const time = (iso: string) => new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });

function selectedFromHash(): string | null {
  const m = /^#\/(\d{5,20})$/.exec(location.hash);
  return m ? m[1] : null;
}

/** The sandbox: a phone-like chat with the demo business, as one of several customers. */
function Sandbox() {
  const [state, setState] = useState<State | null>(null);
  const [customers, setCustomers] = useState<Customer[]>([]);
  const [selected, setSelected] = useState<string | null>(selectedFromHash());
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    json<State>('GET', '/sandbox/api/state').then(
      (s) => {
        setState(s);
        const known = [...s.customers];
        for (const p of PRESETS) if (!known.some((c) => c.waId === p.waId)) known.push(p);
        setCustomers(known);
        setSelected((cur) => cur ?? known[0]?.waId ?? null);
      },
      (err) => setError(String(err instanceof Error ? err.message : err)),
    );
    const on = () => setSelected(selectedFromHash());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);

  const choose = (waId: string) => {
    location.hash = `#/${waId}`;
    setSelected(waId);
  };
  const add = (c: Customer) => {
    setCustomers((prev) => [c, ...prev.filter((p) => p.waId !== c.waId)]);
    choose(c.waId);
  };

  if (error) return h('main', { class: 'sandbox' }, h('p', { class: 'error', role: 'alert' }, error));
  if (!state) return h('main', { class: 'sandbox' }, h('p', null, 'Loading…'));
  const customer = customers.find((c) => c.waId === selected) ?? null;
  return h(
    'main',
    { class: 'sandbox' },
    h(
      'aside',
      { class: 'customers', 'aria-labelledby': 'customers-title' },
      h('h1', { id: 'customers-title' }, 'Write as a customer'),
      h('p', { class: 'hint' }, 'Pick a customer, write to ', h('strong', null, state.business.name), '. Messages go through the signed webhook, like Meta sends them.'),
      h(
        'ul',
        null,
        customers.map((c) =>
          h(
            'li',
            { key: c.waId },
            h(
              'button',
              { type: 'button', class: 'customer' + (c.waId === selected ? ' current' : ''), 'aria-pressed': c.waId === selected ? 'true' : 'false', onClick: () => choose(c.waId) },
              h('span', { class: 'cname' }, c.name ?? 'Customer'),
              h('span', { class: 'cnum' }, '+' + c.waId),
            ),
          ),
        ),
      ),
      h(NewCustomer, { onAdd: add }),
      h('p', { class: 'hint' }, h('a', { href: '/' }, 'Open the dashboard'), ' to watch, pause the bot and answer by hand.'),
    ),
    customer ? h(Phone, { key: customer.waId, customer, business: state.business }) : h('section', { class: 'phone empty' }, h('p', null, 'Add a customer to start.')),
  );
}

function NewCustomer(props: { onAdd: (c: Customer) => void }) {
  const [name, setName] = useState('');
  const [number, setNumber] = useState(() => '1555' + String(Math.floor(1_000_000 + Math.random() * 8_999_999)));
  const [error, setError] = useState<string | null>(null);
  const submit = (ev: Event) => {
    ev.preventDefault();
    const waId = number.replace(/\D/g, '');
    if (waId.length < 5 || waId.length > 20) {
      setError('A number has 5 to 20 digits.');
      return;
    }
    props.onAdd({ waId, name: name.trim() || null });
    setName('');
    setNumber('1555' + String(Math.floor(1_000_000 + Math.random() * 8_999_999)));
    setError(null);
  };
  return h(
    'form',
    { class: 'new-customer', onSubmit: submit },
    h('h2', null, 'New customer'),
    h('label', { for: 'nc-name' }, 'Name'),
    h('input', { id: 'nc-name', value: name, maxLength: 100, onInput: (e: Event) => setName((e.target as HTMLInputElement).value) }),
    h('label', { for: 'nc-number' }, 'WhatsApp number'),
    h('input', { id: 'nc-number', value: number, inputMode: 'numeric', onInput: (e: Event) => setNumber((e.target as HTMLInputElement).value) }),
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    h('button', { type: 'submit' }, 'Add customer'),
  );
}

function Phone(props: { customer: Customer; business: State['business'] }) {
  const { customer, business } = props;
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [typing, setTyping] = useState(false);
  const [text, setText] = useState('');
  const [kind, setKind] = useState<'text' | 'image' | 'audio' | 'document'>('text');
  const [filename, setFilename] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  const [error, setError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const chatRef = useRef<HTMLOListElement>(null);
  const typingTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const mine = useRef(new Set<string>());

  const load = async () => {
    const chat = await json<{ messages: ChatMessage[] }>('GET', `/sandbox/api/chats/${customer.waId}`);
    for (const m of chat.messages) if (m.fromMe && m.wamid) mine.current.add(m.wamid);
    setMessages(chat.messages);
  };

  useEffect(() => {
    void load().catch((err) => setError(String(err instanceof Error ? err.message : err)));
    const source = new EventSource('/sandbox/api/events');
    const stopTyping = () => {
      if (typingTimer.current) clearTimeout(typingTimer.current);
      setTyping(false);
    };
    source.addEventListener('ready', () => void load().catch(() => {}));
    source.addEventListener('reply', (ev) => {
      const r = JSON.parse((ev as MessageEvent<string>).data) as { waId: string; wamid: string; type: string; text: string; options: Option[] | null; listButton: string | null };
      if (r.waId !== customer.waId) return;
      stopTyping();
      const type = r.type === 'interactive' || r.type === 'template' || r.type === 'reaction' ? r.type : r.type === 'image' || r.type === 'document' ? r.type : 'text';
      setMessages((prev) =>
        prev.some((m) => m.wamid === r.wamid)
          ? prev
          : [
              ...prev,
              { id: r.wamid, wamid: r.wamid, fromMe: false, type, text: r.text, filename: null, status: 'delivered', createdAt: new Date().toISOString(), options: r.options, listButton: r.listButton },
            ],
      );
    });
    source.addEventListener('read', (ev) => {
      const r = JSON.parse((ev as MessageEvent<string>).data) as { wamid: string; typing: boolean };
      if (!mine.current.has(r.wamid)) return;
      setMessages((prev) => prev.map((m) => (m.wamid === r.wamid ? { ...m, status: 'read' } : m)));
      if (r.typing) {
        setTyping(true);
        if (typingTimer.current) clearTimeout(typingTimer.current);
        typingTimer.current = setTimeout(() => setTyping(false), TYPING_MS);
      }
    });
    return () => {
      source.close();
      if (typingTimer.current) clearTimeout(typingTimer.current);
    };
  }, [customer.waId]);

  useLayoutEffect(() => {
    const el = chatRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [messages, typing]);

  /** The customer taps a button or a list row of message `m`: it goes to the gateway as Meta sends taps. */
  const tap = async (m: ChatMessage, o: Option) => {
    if (!m.wamid) return;
    setError(null);
    try {
      const body = { type: 'choice', name: customer.name ?? undefined, choice: { kind: tapKind(m), id: o.id, title: o.title, context: m.wamid } };
      const { wamid } = await json<{ wamid: string }>('POST', `/sandbox/api/chats/${customer.waId}/messages`, body);
      mine.current.add(wamid);
      setMessages((prev) => [...prev, { id: wamid, wamid, fromMe: true, type: 'choice', text: o.title, filename: null, status: 'delivered', createdAt: new Date().toISOString() }]);
    } catch (err) {
      setError(String(err instanceof Error ? err.message : err));
    }
  };

  // A voice note recorded in the browser, where it allows (MediaRecorder and a microphone).
  const [recording, setRecording] = useState(false);
  const recorder = useRef<MediaRecorder | null>(null);
  const canRecord = typeof MediaRecorder !== 'undefined' && !!navigator.mediaDevices?.getUserMedia;
  const toggleRecording = async () => {
    if (recorder.current) {
      recorder.current.stop();
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const rec = new MediaRecorder(stream);
      const chunks: Blob[] = [];
      rec.ondataavailable = (e) => chunks.push(e.data);
      rec.onstop = () => {
        stream.getTracks().forEach((t) => t.stop());
        recorder.current = null;
        setRecording(false);
        const type = (rec.mimeType || 'audio/webm').split(';')[0];
        setFile(new File(chunks, `voice.${type.includes('ogg') ? 'ogg' : type.includes('mp4') ? 'm4a' : 'webm'}`, { type }));
      };
      recorder.current = rec;
      rec.start();
      setRecording(true);
      setError(null);
    } catch (err) {
      setError(`The microphone is not available: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  const send = async (ev: Event) => {
    ev.preventDefault();
    if (sending) return;
    if (kind === 'text' && !text.trim()) return;
    if (kind === 'audio' && !file) return setError('Choose an audio file to send as a voice note.');
    // Take what is written and clear the box at once: the customer may start the next message while this one goes.
    const sent = { kind, text, filename: filename.trim() || file?.name || '', file };
    setText('');
    setFilename('');
    setFile(null);
    if (fileRef.current) fileRef.current.value = '';
    setKind('text');
    setSending(true);
    setError(null);
    const body: Record<string, unknown> = { type: sent.kind, name: customer.name ?? undefined };
    if (sent.kind === 'text') body.text = sent.text;
    else {
      if (sent.text.trim()) body.caption = sent.text;
      if (sent.kind === 'document' && sent.filename) body.filename = sent.filename;
    }
    try {
      const { wamid } = sent.file
        ? await upload(`/sandbox/api/chats/${customer.waId}/media`, sent.file, {
            type: sent.kind,
            mime: sent.file.type || undefined,
            filename: sent.kind === 'document' ? sent.filename || undefined : undefined,
            caption: sent.kind !== 'audio' && sent.text.trim() ? sent.text : undefined,
            name: customer.name ?? undefined,
          })
        : await json<{ wamid: string }>('POST', `/sandbox/api/chats/${customer.waId}/messages`, body);
      mine.current.add(wamid);
      setMessages((prev) => [
        ...prev,
        {
          id: wamid,
          wamid,
          fromMe: true,
          type: sent.kind,
          text: sent.kind === 'text' ? sent.text : sent.text.trim() || null,
          filename: sent.kind === 'document' ? sent.filename || 'document.pdf' : null,
          status: 'delivered',
          createdAt: new Date().toISOString(),
        },
      ]);
    } catch (err) {
      setError(String(err instanceof Error ? err.message : err));
      // Give the message back unless something new was written meanwhile.
      setText((cur) => cur || sent.text);
    } finally {
      setSending(false);
    }
  };

  return h(
    'section',
    { class: 'phone', 'aria-label': `Phone of ${customer.name ?? customer.waId}` },
    h(
      'header',
      { class: 'phone-head' },
      h('div', { class: 'avatar', 'aria-hidden': 'true' }, business.name.slice(0, 1)),
      h('div', null, h('h2', null, business.name), h('p', { class: 'sub', 'aria-live': 'polite' }, typing ? 'typing…' : business.displayPhoneNumber)),
      h('span', { class: 'as' }, 'as ', customer.name ?? '+' + customer.waId),
    ),
    h(
      'ol',
      // A list that announces what is added (role=log would take its list semantics away).
      { class: 'chat', ref: chatRef, 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': 'Chat' },
      messages.length === 0 ? h('li', { class: 'system' }, 'Say hello. Try "hello", "opening hours", "price", "where is my order 1234" or "human".') : null,
      messages.map((m) =>
        h(
          'li',
          { key: m.id, class: 'bubble ' + (m.fromMe ? 'me' : 'them'), 'data-wamid': m.wamid ?? undefined },
          m.type === 'image' || m.type === 'document' || m.type === 'audio' ? h('span', { class: 'attachment' }, m.type === 'image' ? '📷 Photo' : m.type === 'audio' ? '🎤 Voice note' : `📄 ${m.filename ?? 'Document'}`) : null,
          m.text ? h('span', { class: 'btext' }, m.text) : null,
          m.options?.length ? h(Choices, { message: m, onTap: (o: Option) => void tap(m, o) }) : null,
          h(
            'span',
            { class: 'bmeta' },
            time(m.createdAt),
            m.fromMe ? h('span', { class: 'ticks ' + m.status, 'aria-label': m.status === 'read' ? 'read' : 'delivered' }, m.status === 'read' ? ' ✓✓' : ' ✓') : null,
          ),
        ),
      ),
      typing ? h('li', { class: 'bubble them typing', 'aria-label': 'typing' }, h('span', { class: 'dots' }, '• • •')) : null,
    ),
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    h(
      'form',
      { class: 'composer', onSubmit: send },
      h('label', { class: 'visually-hidden', for: 'kind' }, 'Message kind'),
      h(
        'select',
        { id: 'kind', value: kind, onChange: (e: Event) => setKind((e.target as HTMLSelectElement).value as typeof kind), title: 'Send as' },
        h('option', { value: 'text' }, 'Text'),
        h('option', { value: 'image' }, 'Photo'),
        h('option', { value: 'audio' }, 'Voice note'),
        h('option', { value: 'document' }, 'Document'),
      ),
      kind !== 'text'
        ? h('input', {
            type: 'file',
            ref: fileRef,
            class: 'file',
            'aria-label': kind === 'audio' ? 'Audio file' : kind === 'image' ? 'Photo file (optional: a sample photo otherwise)' : 'Document file (optional: a sample PDF otherwise)',
            accept: ACCEPT[kind],
            onChange: (e: Event) => setFile((e.target as HTMLInputElement).files?.[0] ?? null),
          })
        : null,
      kind === 'audio' && canRecord
        ? h('button', { type: 'button', class: 'record', 'aria-pressed': recording, onClick: () => void toggleRecording() }, recording ? 'Stop' : file ? 'Record again' : 'Record')
        : null,
      kind === 'document'
        ? h('input', { class: 'filename', 'aria-label': 'File name', placeholder: 'file name', value: filename, maxLength: 240, onInput: (e: Event) => setFilename((e.target as HTMLInputElement).value) })
        : null,
      h('label', { class: 'visually-hidden', for: 'message' }, kind === 'text' ? 'Message' : 'Caption'),
      h('input', {
        id: 'message',
        class: 'message',
        autocomplete: 'off',
        placeholder: kind === 'text' ? 'Message' : 'Caption (optional)',
        value: text,
        maxLength: kind === 'text' ? 4096 : 1024,
        onInput: (e: Event) => setText((e.target as HTMLInputElement).value),
      }),
      h('button', { type: 'submit', class: 'send', disabled: sending, 'aria-label': 'Send' }, '➤'),
    ),
  );
}

/** The buttons of a message, or its list behind the list button: tapping one answers with it. */
function Choices(props: { message: ChatMessage; onTap: (o: Option) => void }) {
  const { message, onTap } = props;
  const [open, setOpen] = useState(false);
  const options = message.options ?? [];
  const button = (o: Option) =>
    h(
      'button',
      { type: 'button', class: 'choice', key: o.id, onClick: () => onTap(o) },
      h('span', { class: 'ctitle' }, o.title),
      o.description ? h('span', { class: 'cdesc' }, o.description) : null,
    );
  if (!message.listButton) return h('div', { class: 'choices', role: 'group', 'aria-label': 'Reply buttons' }, options.map(button));
  return h(
    'div',
    { class: 'choices list' },
    h('button', { type: 'button', class: 'choice list-open', 'aria-expanded': open ? 'true' : 'false', onClick: () => setOpen(!open) }, '☰ ', message.listButton),
    open ? h('div', { role: 'group', 'aria-label': message.listButton }, options.map(button)) : null,
  );
}

render(h(Sandbox, null), document.getElementById('app')!);
