import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type TenantSummary, type Usage } from './api.ts';
import { errorText, fullTime, shortTime } from './format.ts';

const PAGE = '50';

/** A tenant's state in words (never in colour alone). */
export function tenantStatus(t: TenantSummary, deleting: boolean): { label: string; tone: 'ok' | 'warn' | 'bad' } {
  if (deleting) return { label: 'Deleting', tone: 'bad' };
  if (t.disabled) return { label: 'Disabled', tone: 'warn' };
  return { label: 'Active', tone: 'ok' };
}

/** "12 of 1,000" or "12 (no limit)": answers this month against the monthly limit. */
export function usageText(u: Usage): string {
  return u.limit === null ? `${u.count.toLocaleString('en')} (no limit)` : `${u.count.toLocaleString('en')} of ${u.limit.toLocaleString('en')}`;
}

/** Ids are digit strings: newest (largest) first. */
const newestFirst = (a: TenantSummary, b: TenantSummary) => b.id.length - a.id.length || (b.id < a.id ? -1 : b.id > a.id ? 1 : 0);

/**
 * Admin only: every tenant, newest first, searched by name (or id), with its
 * state and this month's usage. A tenant deleted from this dashboard stays
 * listed as "Deleting" (the API no longer lists it) until the page reloads.
 */
export function TenantsView(props: { deleting: ReadonlyMap<string, TenantSummary> }) {
  const [search, setSearch] = useState('');
  const [state, setState] = useState('');
  const [asked, setAsked] = useState({ search: '', state: '' });
  const [items, setItems] = useState<TenantSummary[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const current = useRef(asked);
  current.current = asked;

  const query = (q: { search: string; state: string }) => {
    const r: Record<string, string> = { limit: PAGE };
    if (q.search.trim()) r.search = q.search.trim();
    if (q.state) r.state = q.state;
    return r;
  };

  useEffect(() => {
    setItems(null);
    setError(null);
    api.tenants(query(asked)).then(
      (page) => {
        if (current.current !== asked) return;
        setItems(page.items);
        setCursor(page.nextCursor);
      },
      (err) => setError(errorText(err)),
    );
  }, [asked]);

  const more = async () => {
    if (!cursor) return;
    const mine = asked;
    try {
      const page = await api.tenants({ ...query(mine), cursor });
      if (current.current !== mine) return;
      setItems((prev) => [...(prev ?? []), ...page.items.filter((t) => !prev?.some((p) => p.id === t.id))]);
      setCursor(page.nextCursor);
    } catch (err) {
      setError(errorText(err));
    }
  };

  const submit = (ev: Event) => {
    ev.preventDefault();
    setAsked({ search, state });
  };

  // Deleted here, gone from the API's list: shown where they were while the list shows everything they match.
  const s = asked.search.trim().toLowerCase();
  const gone = asked.state === '' ? [...props.deleting.values()].filter((t) => !s || t.id === s || t.name.toLowerCase().includes(s)) : [];
  const shown = items === null ? null : [...items.filter((t) => !props.deleting.has(t.id)), ...gone].sort(newestFirst);

  return h(
    'main',
    { class: 'page wide' },
    h('h2', { id: 'tenants-title' }, 'Tenants'),
    h(
      'form',
      { class: 'search', role: 'search', 'aria-label': 'Tenants', onSubmit: submit },
      h('label', { for: 'tenant-search' }, 'Name or id'),
      h('input', { id: 'tenant-search', type: 'search', value: search, maxLength: 200, onInput: (e: Event) => setSearch((e.target as HTMLInputElement).value) }),
      h('label', { for: 'tenant-state' }, 'State'),
      h(
        'select',
        { id: 'tenant-state', value: state, onChange: (e: Event) => setState((e.target as HTMLSelectElement).value) },
        h('option', { value: '' }, 'Every state'),
        h('option', { value: 'active' }, 'Active'),
        h('option', { value: 'disabled' }, 'Disabled'),
      ),
      h('button', { type: 'submit' }, 'Search'),
    ),
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    shown === null && !error ? h('p', { class: 'muted' }, 'Loading…') : null,
    shown !== null && shown.length === 0 ? h('p', { class: 'muted', role: 'status' }, asked.search || asked.state ? 'No tenant matches.' : 'No tenants yet.') : null,
    shown !== null && shown.length > 0
      ? h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'grid tenant-list', 'aria-labelledby': 'tenants-title' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                h('th', { scope: 'col' }, 'Tenant'),
                h('th', { scope: 'col' }, 'State'),
                h('th', { scope: 'col' }, 'Answers this month'),
                h('th', { scope: 'col' }, 'Channels'),
                h('th', { scope: 'col' }, 'Created'),
              ),
            ),
            h(
              'tbody',
              null,
              shown.map((t) => {
                const deleting = props.deleting.has(t.id);
                const st = tenantStatus(t, deleting);
                return h(
                  'tr',
                  { key: t.id, 'data-tenant-id': t.id },
                  h('th', { scope: 'row' }, deleting ? t.name : h('a', { href: `#/tenants/${t.id}` }, t.name), h('span', { class: 'muted id' }, ` #${t.id}`)),
                  h('td', null, h('span', { class: `state tone-${st.tone}`, title: t.disabledAt ? `Disabled ${fullTime(t.disabledAt)}` : undefined }, st.label)),
                  h('td', { class: 'usage-cell' }, usageText(t.usage)),
                  h('td', null, String(t.channels)),
                  h('td', { title: fullTime(t.createdAt) }, shortTime(t.createdAt)),
                );
              }),
            ),
          ),
        )
      : null,
    cursor ? h('button', { type: 'button', class: 'more', onClick: () => void more() }, 'Load more') : null,
  );
}
