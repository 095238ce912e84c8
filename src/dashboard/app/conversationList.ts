import { h } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, type Conversation } from './api.ts';
import { contactName, messageText, shortTime } from './format.ts';
import { debounce, type Live } from './live.ts';

/** The list's filters, as the API takes them. */
const FILTERS: { value: string; label: string; query: Record<string, string> }[] = [
  { value: 'all', label: 'All conversations', query: {} },
  { value: 'unanswered', label: 'Waiting for an answer', query: { unanswered: 'true' } },
  { value: 'paused', label: 'Bot paused', query: { paused: 'true' } },
  { value: 'active', label: 'Bot active', query: { paused: 'false' } },
  { value: 'over_quota', label: 'Not answered: limit reached', query: { disposition: 'over_quota' } },
  { value: 'agent_failed', label: 'Not answered: agent failed', query: { disposition: 'agent_failed' } },
  { value: 'send_failed', label: 'Answer not sent', query: { disposition: 'send_failed' } },
  { value: 'window_closed', label: 'Older than 24 hours', query: { disposition: 'window_closed' } },
];

const PAGE = '50';

/** The conversation list, newest activity first, kept current by the live events. */
export function ConversationList(props: { live: Live; selectedId: string | null }) {
  const [filter, setFilter] = useState('all');
  const [items, setItems] = useState<Conversation[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const filterRef = useRef(filter);
  filterRef.current = filter;
  // Whether "Load more" extended the list: a live reload then keeps the older pages.
  const extended = useRef(false);

  const query = () => ({ limit: PAGE, ...FILTERS.find((f) => f.value === filterRef.current)!.query });

  const reload = useCallback(async () => {
    const asked = filterRef.current;
    try {
      const page = await api.conversations(query());
      if (asked !== filterRef.current) return;
      if (!extended.current) {
        setItems(page.items);
        setCursor(page.nextCursor);
      } else {
        setItems((prev) => {
          // Keep what "Load more" brought, below the fresh first page.
          const fresh = new Set(page.items.map((c) => c.id));
          const lastFresh = page.items[page.items.length - 1];
          const older = lastFresh ? prev.filter((c) => !fresh.has(c.id) && c.lastMessageAt < lastFresh.lastMessageAt) : [];
          return [...page.items, ...older];
        });
      }
      setError(null);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    setLoading(true);
    setItems([]);
    setCursor(null);
    extended.current = false;
    void reload();
  }, [filter]);

  useEffect(() => {
    const soon = debounce(() => void reload(), 250);
    return props.live.on(() => soon());
  }, []);

  const more = async () => {
    if (!cursor) return;
    const page = await api.conversations({ ...query(), cursor });
    extended.current = true;
    setItems((prev) => [...prev, ...page.items.filter((c) => !prev.some((p) => p.id === c.id))]);
    setCursor(page.nextCursor);
  };

  return h(
    'section',
    { class: 'list-pane', 'aria-labelledby': 'list-title' },
    h(
      'div',
      { class: 'list-head' },
      h('h2', { id: 'list-title' }, 'Conversations'),
      h('label', { class: 'visually-hidden', for: 'filter' }, 'Show'),
      h(
        'select',
        { id: 'filter', value: filter, onChange: (e: Event) => setFilter((e.target as HTMLSelectElement).value) },
        FILTERS.map((f) => h('option', { value: f.value }, f.label)),
      ),
    ),
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    loading && items.length === 0 ? h('p', { class: 'muted pad' }, 'Loading…') : null,
    !loading && items.length === 0 && !error ? h('p', { class: 'muted pad' }, filter === 'all' ? 'No conversations yet. Messages customers send appear here.' : 'None.') : null,
    h(
      'ul',
      { class: 'conversations', 'aria-live': 'polite' },
      items.map((c) => h(ConversationItem, { key: c.id, c, selected: c.id === props.selectedId })),
    ),
    cursor ? h('button', { class: 'more', type: 'button', onClick: () => void more() }, 'Load more') : null,
  );
}

function ConversationItem(props: { c: Conversation; selected: boolean }) {
  const c = props.c;
  const last = c.lastMessage;
  const who = last ? (last.direction === 'inbound' ? '' : last.author === 'agent' ? 'Bot: ' : 'You: ') : '';
  return h(
    'li',
    null,
    h(
      'a',
      { class: 'conversation' + (props.selected ? ' selected' : ''), href: `#/c/${c.id}`, 'aria-current': props.selected ? 'page' : undefined, 'data-conversation-id': c.id },
      h(
        'span',
        { class: 'row' },
        h('span', { class: 'name' }, contactName(c)),
        h('time', { class: 'time', dateTime: c.lastMessageAt }, shortTime(c.lastMessageAt)),
      ),
      h(
        'span',
        { class: 'row' },
        h('span', { class: 'preview' }, last ? who + messageText(last) : ''),
        c.paused ? h('span', { class: 'badge warn' }, 'Paused') : null,
        c.unread > 0 ? h('span', { class: 'badge unread', 'aria-label': `${c.unread} unread` }, String(c.unread)) : null,
      ),
    ),
  );
}
