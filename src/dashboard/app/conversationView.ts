import { h } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, type Conversation, type Message } from './api.ts';
import { MediaBlock } from './mediaView.ts';
import { authorLabel, contactName, contactNumber, dispositionText, fullTime, mediaLabel, shortTime, statusText } from './format.ts';
import { debounce, type Live } from './live.ts';
import { TemplateSender, windowOpen, WindowState } from './templatePanel.ts';

const PAUSE_OPTIONS: { value: string; label: string }[] = [
  { value: '', label: 'until resumed' },
  { value: '30', label: 'for 30 minutes' },
  { value: '120', label: 'for 2 hours' },
  { value: '1440', label: 'for 1 day' },
];

/** A tag for the message types that are not plain text or media (docs/templates.md). */
const KIND_LABELS: Record<string, string> = { template: 'template', interactive: 'choices', button: 'tapped', reaction: 'reaction' };

/** One conversation: its messages with statuses and dispositions, pause/resume and the reply box. */
export function ConversationView(props: { id: string; live: Live; autoPauseOnReply: boolean | null }) {
  const { id, live } = props;
  const [conv, setConv] = useState<Conversation | null>(null);
  const [messages, setMessages] = useState<Message[]>([]);
  const [olderCursor, setOlderCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notFound, setNotFound] = useState(false);
  const listRef = useRef<HTMLOListElement>(null);
  const stickToBottom = useRef(true);

  const load = async () => {
    try {
      const [c, page] = await Promise.all([api.conversation(id), api.latestMessages(id)]);
      setConv(c);
      setMessages((prev) => {
        const latest = [...page.items].reverse();
        // Keep older pages the operator loaded.
        const first = latest[0];
        const older = first ? prev.filter((m) => BigInt(m.id) < BigInt(first.id)) : [];
        return [...older, ...latest];
      });
      setOlderCursor((prev) => prev ?? page.nextCursor);
      setError(null);
      if (c.unread > 0 && document.visibilityState === 'visible') {
        // The list shows the unread count: tell it once the mark is stored.
        void api.markRead(id).then(() => live.notify({ type: 'conversation', conversationId: id, read: true }), () => {});
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) setNotFound(true);
      else setError(err instanceof Error ? err.message : String(err));
    }
  };

  useEffect(() => {
    setConv(null);
    setMessages([]);
    setOlderCursor(null);
    setNotFound(false);
    stickToBottom.current = true;
    void load();
    const soon = debounce(() => void load(), 120);
    return live.on((u) => {
      if (u.type === 'ready' || u.conversationId === id) soon();
    });
  }, [id]);

  useLayoutEffect(() => {
    const el = listRef.current;
    if (el && stickToBottom.current) el.scrollTop = el.scrollHeight;
  }, [messages]);

  const older = async () => {
    if (!olderCursor) return;
    const page = await api.olderMessages(id, olderCursor);
    stickToBottom.current = false;
    setMessages((prev) => [...[...page.items].reverse().filter((m) => !prev.some((p) => p.id === m.id)), ...prev]);
    setOlderCursor(page.nextCursor);
  };

  if (notFound) return h('section', { class: 'detail-pane' }, h('p', { class: 'pad' }, 'This conversation does not exist.'), h('a', { href: '#/' }, 'Back to the list'));
  if (!conv) return h('section', { class: 'detail-pane' }, error ? h('p', { class: 'error', role: 'alert' }, error) : h('p', { class: 'muted pad' }, 'Loading…'));

  return h(
    'section',
    { class: 'detail-pane', 'aria-labelledby': 'conv-title' },
    h(
      'header',
      { class: 'detail-head' },
      h('a', { class: 'back', href: '#/', 'aria-label': 'Back to the conversations' }, '←'),
      h('div', { class: 'who' }, h('h2', { id: 'conv-title' }, contactName(conv)), h('span', { class: 'muted' }, contactNumber(conv)), h(WindowState, { conv })),
      h(PauseControl, { conv, onChange: setConv }),
    ),
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    h(
      'ol',
      {
        class: 'messages',
        ref: listRef,
        // A list that announces what is added (role=log would take its list semantics away).
        'aria-live': 'polite',
        'aria-relevant': 'additions',
        'aria-label': 'Messages',
        tabIndex: 0,
        onScroll: (e: Event) => {
          const el = e.currentTarget as HTMLElement;
          stickToBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        },
      },
      olderCursor ? h('li', { class: 'older' }, h('button', { type: 'button', onClick: () => void older() }, 'Older messages')) : null,
      messages.map((m) => h(MessageItem, { key: m.id, m })),
    ),
    h(TemplateSender, {
      conv,
      onSent: () => {
        stickToBottom.current = true;
        void load();
      },
    }),
    h(ReplyBox, {
      conv,
      autoPauseOnReply: props.autoPauseOnReply,
      onSent: () => {
        stickToBottom.current = true;
        void load();
      },
    }),
  );
}

function MessageItem(props: { m: Message }) {
  const m = props.m;
  const inbound = m.direction === 'inbound';
  const media = mediaLabel(m);
  const d = inbound ? dispositionText(m) : null;
  return h(
    'li',
    { class: `msg ${inbound ? 'in' : 'out'} ${m.author}`, 'data-message-id': m.id },
    h(
      'div',
      { class: 'bubble' },
      h(
        'div',
        { class: 'meta' },
        h('span', { class: 'author' }, authorLabel(m)),
        KIND_LABELS[m.type] ? h('span', { class: 'kind' }, inbound && m.type === 'interactive' ? 'tapped' : KIND_LABELS[m.type]) : null,
        h('time', { dateTime: m.createdAt, title: fullTime(m.createdAt) }, shortTime(m.createdAt)),
      ),
      media ? h(MediaBlock, { m }) : null,
      m.text ? h('p', { class: 'text' }, m.text) : media ? null : h('p', { class: 'text muted' }, `[${m.type}]`),
    ),
    m.toolCalls.length > 0 ? h(ToolCalls, { calls: m.toolCalls }) : null,
    inbound
      ? h('div', { class: `under disposition tone-${d!.tone}`, 'data-disposition': m.disposition ?? 'pending' }, d!.label)
      : h('div', { class: `under status status-${m.status}`, 'data-status': m.status }, statusText(m)),
  );
}

const TOOL_STATUS: Record<Message['toolCalls'][number]['status'], string> = {
  ok: 'ok',
  error: 'failed',
  invalid_arguments: 'invalid arguments (not called)',
  timeout: 'timed out',
  running: 'running',
};

/** The tool calls that led to an agent reply: why the bot said what it said. Collapsed by default. */
function ToolCalls(props: { calls: Message['toolCalls'] }) {
  const { calls } = props;
  return h(
    'details',
    { class: 'tool-calls', 'data-tool-calls': calls.length },
    h('summary', null, calls.length === 1 ? '1 tool call' : `${calls.length} tool calls`),
    h(
      'ol',
      null,
      calls.map((c) =>
        h(
          'li',
          { key: c.id, 'data-tool-status': c.status },
          h('div', { class: 'tool-head' }, h('code', null, c.name), ' ', h('span', { class: `tool-status tool-${c.status}` }, TOOL_STATUS[c.status]), c.durationMs !== null ? h('span', { class: 'muted' }, ` · ${c.durationMs} ms`) : null),
          h('div', { class: 'muted' }, 'Arguments'),
          h('pre', null, JSON.stringify(c.arguments, null, 2)),
          c.excerpt !== null ? h('div', { class: 'muted' }, 'Result') : null,
          c.excerpt !== null ? h('pre', null, c.excerpt) : null,
        ),
      ),
    ),
  );
}

function PauseControl(props: { conv: Conversation; onChange: (c: Conversation) => void }) {
  const { conv } = props;
  const [minutes, setMinutes] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const act = async (fn: () => Promise<Conversation>) => {
    setBusy(true);
    setError(null);
    try {
      props.onChange(await fn());
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  const state = conv.paused
    ? `Bot paused${conv.pausedBy ? ` by ${conv.pausedBy.replace('_', ' ')}` : ''}${conv.pausedUntil ? ` until ${shortTime(conv.pausedUntil)}` : ''}`
    : 'Bot active';
  return h(
    'div',
    { class: 'pause' },
    h('span', { class: `bot-state ${conv.paused ? 'paused' : 'active'}`, role: 'status' }, state),
    conv.paused
      ? h('button', { type: 'button', class: 'primary', disabled: busy, onClick: () => void act(() => api.resume(conv.id)) }, 'Resume bot')
      : h(
          'span',
          { class: 'pause-form' },
          h('label', { class: 'visually-hidden', for: 'pause-for' }, 'Pause duration'),
          h(
            'select',
            { id: 'pause-for', value: minutes, onChange: (e: Event) => setMinutes((e.target as HTMLSelectElement).value) },
            PAUSE_OPTIONS.map((o) => h('option', { value: o.value }, o.label)),
          ),
          h('button', { type: 'button', disabled: busy, onClick: () => void act(() => api.pause(conv.id, minutes ? Number(minutes) : null)) }, 'Pause bot'),
        ),
    error ? h('span', { class: 'error', role: 'alert' }, error) : null,
  );
}

function ReplyBox(props: { conv: Conversation; autoPauseOnReply: boolean | null; onSent: () => void }) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setText('');
    setError(null);
  }, [props.conv.id]);

  const send = async (ev?: Event) => {
    ev?.preventDefault();
    if (!text.trim() || busy) return;
    const sent = text;
    // Cleared at once, so the operator can write the next message while this one goes; given back on failure.
    setText('');
    setBusy(true);
    setError(null);
    try {
      await api.send(props.conv.id, sent);
      props.onSent();
    } catch (err) {
      setText((cur) => cur || sent);
      setError(
        err instanceof ApiError && err.code === 'outside_customer_service_window'
          ? "The customer's last message is more than 24 hours old: WhatsApp only allows template messages now. Send a template above, or wait for the customer to write again."
          : err instanceof Error
            ? err.message
            : String(err),
      );
    } finally {
      setBusy(false);
    }
  };

  const hint = !windowOpen(props.conv)
    ? 'The 24-hour window is closed: WhatsApp only takes templates now.'
    : props.conv.paused
    ? 'The bot is paused: only people answer here.'
    : props.autoPauseOnReply
      ? 'Sending pauses the bot for this conversation.'
      : 'The bot keeps answering after your reply.';
  return h(
    'form',
    { class: 'reply', onSubmit: send },
    h('label', { for: 'reply-text' }, 'Reply as operator'),
    h('textarea', {
      id: 'reply-text',
      rows: 2,
      value: text,
      maxLength: 16384,
      placeholder: 'Write a reply…',
      'aria-describedby': 'reply-hint',
      onInput: (e: Event) => setText((e.target as HTMLTextAreaElement).value),
      onKeyDown: (e: KeyboardEvent) => {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void send();
      },
    }),
    h('div', { class: 'reply-foot' }, h('span', { id: 'reply-hint', class: 'muted' }, hint), h('button', { type: 'submit', class: 'primary', disabled: busy || !text.trim() }, busy ? 'Sending…' : 'Send')),
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
  );
}
