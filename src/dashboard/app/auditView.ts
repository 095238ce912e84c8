import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type AuditEntry, type Session } from './api.ts';
import { errorText, fullTime, shortTime } from './format.ts';

const PAGE = '50';

/** Each action of the audit log in words. */
const ACTIONS: Record<string, string> = {
  'conversation.paused': 'Bot paused',
  'conversation.resumed': 'Bot resumed',
  'message.sent_by_operator': 'Message sent by hand',
  'settings.changed': 'Settings changed',
  'api_key.created': 'Key created',
  'api_key.revoked': 'Key revoked',
  'tenant.created': 'Tenant created',
  'tenant.updated': 'Tenant changed',
  'tenant.disabled': 'Tenant disabled',
  'tenant.enabled': 'Tenant enabled',
  'tenant.deleted': 'Tenant deleted',
  'channel.added': 'Channel added',
  'channel.token_rotated': 'Channel token rotated',
  'channel.updated': 'Channel changed',
  'channel.removed': 'Channel removed',
  'contact.erased': 'Contact erased',
};

/** Who did it: the admin key, which tenant key, or the command line; and through what. */
function who(e: AuditEntry): string {
  const actor = e.actor === 'admin' ? 'Admin key' : e.actor === 'cli' ? 'Command line' : `Tenant key #${e.actorKeyId ?? '?'}`;
  return e.via === 'cli' ? actor : `${actor}, ${e.via === 'dashboard' ? 'dashboard' : 'API'}`;
}

/** The small detail as "key: value" pairs (the API keeps secrets and message texts out of it). */
function detailText(d: Record<string, unknown>): string {
  const parts = Object.entries(d).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : Array.isArray(v) ? v.join(', ') : JSON.stringify(v)}`);
  return parts.length ? parts.join('; ') : '—';
}

/**
 * The audit log, newest first, paged with the API's cursor. The admin sees
 * every tenant or picks one (the choice is in the address: #/audit/<id>); a
 * tenant key sees its own.
 */
export function AuditView(props: { session: Session; tenantId: string | null }) {
  const isAdmin = props.session.kind === 'admin';
  const [tenants, setTenants] = useState<{ id: string; name: string }[]>([]);
  const [items, setItems] = useState<AuditEntry[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const asked = useRef(props.tenantId);
  asked.current = props.tenantId;

  const query = (): Record<string, string> => (isAdmin && props.tenantId ? { limit: PAGE, tenantId: props.tenantId } : { limit: PAGE });

  useEffect(() => {
    // The admin's filter: the newest 200 tenants by name (one chosen in the address is added if it is older).
    if (isAdmin) api.tenants({ limit: '200' }).then((p) => setTenants(p.items.map((t) => ({ id: t.id, name: t.name }))), () => {});
  }, []);

  useEffect(() => {
    const mine = props.tenantId;
    setItems(null);
    setCursor(null);
    setError(null);
    api.audit(query()).then(
      (page) => {
        if (asked.current !== mine) return;
        setItems(page.items);
        setCursor(page.nextCursor);
      },
      (err) => setError(errorText(err)),
    );
  }, [props.tenantId]);

  const older = async () => {
    if (!cursor || loadingMore) return;
    const mine = props.tenantId;
    setLoadingMore(true);
    try {
      const page = await api.audit({ ...query(), cursor });
      if (asked.current !== mine) return;
      setItems((prev) => [...(prev ?? []), ...page.items.filter((e) => !prev?.some((p) => p.id === e.id))]);
      setCursor(page.nextCursor);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setLoadingMore(false);
    }
  };

  const names = new Map(tenants.map((t) => [t.id, t.name]));
  const tenantLabel = (id: string | null) => (id === null ? '—' : names.has(id) ? `${names.get(id)} #${id}` : `#${id}`);
  const options = props.tenantId && !names.has(props.tenantId) ? [...tenants, { id: props.tenantId, name: `Tenant #${props.tenantId}` }] : tenants;
  const everyTenant = isAdmin && !props.tenantId;

  return h(
    'main',
    { class: 'page wide' },
    h('h2', { id: 'audit-title' }, 'Audit log'),
    h('p', { class: 'muted' }, isAdmin ? 'What operators did, newest first.' : `What operators did on ${props.session.tenantName ?? 'this tenant'}, newest first.`),
    isAdmin
      ? h(
          'div',
          { class: 'search' },
          h('label', { for: 'audit-tenant' }, 'Tenant'),
          h(
            'select',
            {
              id: 'audit-tenant',
              value: props.tenantId ?? '',
              onChange: (e: Event) => {
                const v = (e.target as HTMLSelectElement).value;
                location.hash = v ? `#/audit/${v}` : '#/audit';
              },
            },
            h('option', { value: '' }, 'Every tenant'),
            options.map((t) => h('option', { value: t.id }, `${t.name} #${t.id}`)),
          ),
        )
      : null,
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    items === null && !error ? h('p', { class: 'muted' }, 'Loading…') : null,
    items !== null && items.length === 0 ? h('p', { class: 'muted', role: 'status' }, 'Nothing recorded yet.') : null,
    items !== null && items.length > 0
      ? h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'grid audit-list', 'aria-labelledby': 'audit-title' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                h('th', { scope: 'col' }, 'When'),
                h('th', { scope: 'col' }, 'Who'),
                h('th', { scope: 'col' }, 'Action'),
                everyTenant ? h('th', { scope: 'col' }, 'Tenant') : null,
                h('th', { scope: 'col' }, 'Target'),
                h('th', { scope: 'col' }, 'Detail'),
              ),
            ),
            h(
              'tbody',
              null,
              items.map((e) =>
                h(
                  'tr',
                  { key: e.id, 'data-audit-id': e.id, 'data-action': e.action },
                  h('td', { title: fullTime(e.createdAt) }, h('time', { dateTime: e.createdAt }, shortTime(e.createdAt))),
                  h('td', { class: 'who' }, who(e)),
                  h('td', { class: 'action', title: e.action }, ACTIONS[e.action] ?? e.action),
                  everyTenant ? h('td', null, tenantLabel(e.tenantId)) : null,
                  h('td', null, e.target ? `${e.target.type} #${e.target.id}` : '—'),
                  h('td', { class: 'detail' }, detailText(e.detail)),
                ),
              ),
            ),
          ),
        )
      : null,
    cursor ? h('button', { type: 'button', class: 'more', 'aria-disabled': loadingMore ? 'true' : undefined, onClick: () => void older() }, 'Load older') : null,
  );
}
