import { h, render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, whenSignedOut, type Session, type TenantSettings, type TenantSummary, type Usage } from './api.ts';
import { AuditView } from './auditView.ts';
import { ConversationList } from './conversationList.ts';
import { ConversationView } from './conversationView.ts';
import { debounce, Live } from './live.ts';
import { PerformanceView } from './performanceView.ts';
import { SettingsView } from './settingsView.ts';
import { SignIn } from './signIn.ts';
import { TenantPanel } from './tenantPanel.ts';
import { TenantsView } from './tenantsView.ts';
import { ToolsView } from './toolsView.ts';

type Route =
  | { name: 'conversations'; id: string | null }
  | { name: 'settings' }
  | { name: 'tools' }
  | { name: 'performance' }
  | { name: 'tenants'; id: string | null }
  | { name: 'audit'; tenantId: string | null };

function parseRoute(hash: string): Route {
  const m = /^#\/c\/(\d{1,18})$/.exec(hash);
  if (m) return { name: 'conversations', id: m[1] };
  if (hash === '#/settings') return { name: 'settings' };
  if (hash === '#/tools') return { name: 'tools' };
  if (hash === '#/performance') return { name: 'performance' };
  const t = /^#\/tenants(?:\/(\d{1,18}))?$/.exec(hash);
  if (t) return { name: 'tenants', id: t[1] ?? null };
  const a = /^#\/audit(?:\/(\d{1,18}))?$/.exec(hash);
  if (a) return { name: 'audit', tenantId: a[1] ?? null };
  return { name: 'conversations', id: null };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** The dashboard: sign-in, then conversations (live), a conversation, settings, the audit log, and for the admin the tenants and the performance charts. */
function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  useEffect(() => {
    whenSignedOut(() => setSession(null));
    // Without the sign-in marker there is no session to ask about (and no 401 to log).
    if (!/(?:^|;\s*)wagate_signed_in=1/.test(document.cookie)) setSession(null);
    else api.session().then(setSession, () => setSession(null));
  }, []);
  if (session === undefined) return h('p', { class: 'muted pad' }, 'Loading…');
  if (session === null) return h(SignIn, { onSignedIn: setSession });
  return h(SignedIn, { session, onSignOut: () => setSession(null) });
}

function SignedIn(props: { session: Session; onSignOut: () => void }) {
  const { session } = props;
  const route = useRoute();
  const live = useMemo(() => new Live(), []);
  const [connected, setConnected] = useState(false);
  const [usage, setUsage] = useState<Usage | null>(null);
  const [settings, setSettings] = useState<TenantSettings | null>(null);
  // Tenants deleted from this page: the API no longer lists them; the Tenants page shows them as "Deleting".
  const [deleting, setDeleting] = useState<ReadonlyMap<string, TenantSummary>>(new Map());
  const isTenant = session.kind === 'tenant';

  useEffect(() => {
    live.onConnectionChange = setConnected;
    live.start();
    const loadUsage = () => {
      if (isTenant) api.usage().then(setUsage, () => {});
    };
    loadUsage();
    if (isTenant) api.settings().then(setSettings, () => {});
    const soon = debounce(loadUsage, 1_000);
    const off = live.on((u) => {
      if (u.type === 'message' || u.type === 'ready') soon();
    });
    return () => {
      off();
      live.stop();
    };
  }, []);

  const signOut = async () => {
    await api.signOut().catch(() => {});
    live.stop();
    location.hash = '';
    props.onSignOut();
  };

  const nav = (href: string, label: string, active: boolean) => h('a', { href, 'aria-current': active ? 'page' : undefined }, label);

  let body;
  if (route.name === 'settings' && isTenant) body = h(SettingsView, { onSaved: setSettings });
  else if (route.name === 'tools' && isTenant) body = h(ToolsView, null);
  else if (route.name === 'performance' && !isTenant) body = h(PerformanceView, null);
  else if (route.name === 'tenants' && !isTenant && route.id)
    body = h(TenantPanel, { key: route.id, id: route.id, deleting, onDeleted: (t: TenantSummary) => setDeleting((prev) => new Map(prev).set(t.id, t)) });
  else if (route.name === 'tenants' && !isTenant) body = h(TenantsView, { deleting });
  else if (route.name === 'audit') body = h(AuditView, { session, tenantId: isTenant ? null : route.tenantId });
  else {
    const id = route.name === 'conversations' ? route.id : null;
    body = h(
      'main',
      { class: 'inbox' + (id ? ' has-selection' : '') },
      h(ConversationList, { live, selectedId: id }),
      id
        ? h(ConversationView, { key: id, id, live, autoPauseOnReply: settings ? settings.agent.autoPauseOnOperatorReply : null })
        : h('section', { class: 'detail-pane empty' }, h('p', { class: 'muted' }, 'Choose a conversation.')),
    );
  }

  return h(
    'div',
    { class: 'app' },
    h(
      'header',
      { class: 'topbar' },
      h('h1', { class: 'brand' }, h('a', { href: '#/' }, 'wagate')),
      h('span', { class: 'tenant' }, isTenant ? session.tenantName : 'Admin: every tenant'),
      usage ? h(UsageMeter, { usage }) : null,
      h(
        'nav',
        { 'aria-label': 'Main' },
        nav('#/', 'Conversations', route.name === 'conversations'),
        isTenant ? nav('#/settings', 'Settings', route.name === 'settings') : nav('#/tenants', 'Tenants', route.name === 'tenants'),
        isTenant ? nav('#/tools', 'Tools', route.name === 'tools') : null,
        nav('#/audit', 'Audit log', route.name === 'audit'),
        isTenant ? null : nav('#/performance', 'Performance', route.name === 'performance'),
        h('button', { type: 'button', class: 'link', onClick: () => void signOut() }, 'Sign out'),
      ),
      h('span', { class: 'live ' + (connected ? 'on' : 'off'), role: 'status', title: connected ? 'Live updates on' : 'Reconnecting…' }, connected ? 'Live' : 'Offline'),
    ),
    body,
  );
}

function UsageMeter(props: { usage: Usage }) {
  const { count, limit } = props.usage;
  const label = limit === null ? `${count} answers this month (no limit)` : `${count} of ${limit} answers this month`;
  return h(
    'span',
    { class: 'usage', title: label },
    limit === null ? null : h('meter', { min: 0, max: limit, value: count, low: limit * 0.8, high: limit * 0.95, optimum: 0, 'aria-hidden': 'true' }),
    h('span', { class: 'usage-text' }, label),
  );
}

render(h(App, null), document.getElementById('app')!);
