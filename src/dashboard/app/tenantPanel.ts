import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type TenantSummary } from './api.ts';
import { ChannelsSection } from './channelsSection.ts';
import { ConfirmButton } from './confirmButton.ts';
import { errorText, fullTime } from './format.ts';
import { tenantStatus, usageText } from './tenantsView.ts';

/**
 * Admin only: one tenant. Its state and usage; its name and monthly limit;
 * disable and enable (asked first); its channels; and deletion, confirmed by
 * typing the tenant's name.
 */
export function TenantPanel(props: { id: string; deleting: ReadonlyMap<string, TenantSummary>; onDeleted: (t: TenantSummary) => void }) {
  const [tenant, setTenant] = useState<TenantSummary | null | undefined>(props.deleting.get(props.id));
  const [name, setName] = useState('');
  const [limit, setLimit] = useState('');
  const [typed, setTyped] = useState('');
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const deleting = props.deleting.has(props.id);
  const title = useRef<HTMLHeadingElement>(null);
  const titled = useRef(false);
  // Opened from the list, the link that had the focus is gone: the focus goes to the tenant's name, once.
  useEffect(() => {
    if (tenant && !titled.current) {
      titled.current = true;
      title.current?.focus();
    }
  }, [tenant]);

  /** The tenant as the list shows it (search by id: one row, with its usage); null: no such tenant, or deleted. */
  const load = async () => {
    const page = await api.tenants({ search: props.id, limit: '1' });
    const t = page.items.find((x) => x.id === props.id) ?? null;
    setTenant(t);
    return t;
  };
  const fill = (t: TenantSummary | null) => {
    setName(t?.name ?? '');
    setLimit(t?.usage.limit === null || !t ? '' : String(t.usage.limit));
  };

  useEffect(() => {
    if (deleting) return;
    load().then(fill, (err) => setError(errorText(err)));
  }, [props.id]);

  const run = async (what: () => Promise<string>) => {
    setBusy(true);
    setError(null);
    setStatus(null);
    try {
      setStatus(await what());
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  if (tenant === undefined) return h('main', { class: 'page' }, back(), error ? h('p', { class: 'error', role: 'alert' }, error) : h('p', { class: 'muted' }, 'Loading…'));
  if (tenant === null) return h('main', { class: 'page' }, back(), h('p', { class: 'error', role: 'alert' }, `There is no tenant #${props.id} (or it is being deleted).`));

  const st = tenantStatus(tenant, deleting);
  const save = (ev: Event) => {
    ev.preventDefault();
    const patch: { name?: string; monthlyMessageLimit?: number | null } = {};
    if (name.trim() !== tenant.name) patch.name = name.trim();
    const newLimit = limit.trim() === '' ? null : Number(limit.trim());
    if (newLimit !== tenant.usage.limit) patch.monthlyMessageLimit = newLimit;
    void run(async () => {
      if (Object.keys(patch).length === 0) return 'Nothing changed.';
      await api.updateTenant(tenant.id, patch);
      fill(await load());
      return 'Saved.';
    });
  };
  const toggle = () =>
    run(async () => {
      if (tenant.disabled) await api.enableTenant(tenant.id);
      else await api.disableTenant(tenant.id);
      const t = await load();
      return t?.disabled ? `${tenant.name} is disabled.` : `${tenant.name} is active again.`;
    });
  const remove = (ev: Event) => {
    ev.preventDefault();
    if (typed !== tenant.name) return;
    void run(async () => {
      await api.deleteTenant(tenant.id);
      props.onDeleted(tenant);
      return `${tenant.name} is being deleted: its rows are removed in the background.`;
    });
  };

  return h(
    'main',
    { class: 'page' },
    back(),
    h('h2', { id: 'tenant-title', ref: title, tabIndex: -1 }, tenant.name, h('span', { class: 'muted id' }, ` #${tenant.id}`)),
    h(
      'dl',
      { class: 'figures' },
      h('div', null, h('dt', null, 'State'), h('dd', { class: `state tone-${st.tone}`, 'data-state': st.label.toLowerCase() }, st.label, tenant.disabledAt && !deleting ? h('span', { class: 'muted' }, ` since ${fullTime(tenant.disabledAt)}`) : null)),
      h('div', null, h('dt', null, 'Answers this month'), h('dd', null, usageText(tenant.usage))),
      h('div', null, h('dt', null, 'Channels'), h('dd', null, String(tenant.channels))),
    ),
    h('p', null, h('a', { href: `#/audit/${tenant.id}` }, `Audit log of ${tenant.name}`)),
    h('div', { class: 'actions' }, status ? h('p', { class: 'ok', role: 'status' }, status) : null, error ? h('p', { class: 'error', role: 'alert' }, error) : null),
    deleting
      ? null
      : [
          h(
            'form',
            { class: 'settings', onSubmit: save, 'aria-labelledby': 'tenant-edit' },
            h(
              'fieldset',
              null,
              h('legend', { id: 'tenant-edit' }, 'Name and limit'),
              h('div', { class: 'field' }, h('label', { for: 't-name' }, 'Name'), h('input', { id: 't-name', value: name, required: true, maxLength: 200, onInput: (e: Event) => setName((e.target as HTMLInputElement).value) })),
              h(
                'div',
                { class: 'field' },
                h('label', { for: 't-limit' }, 'Monthly answers'),
                h('input', { id: 't-limit', type: 'number', inputMode: 'numeric', min: 0, max: 2_000_000_000, value: limit, 'aria-describedby': 'h-t-limit', onInput: (e: Event) => setLimit((e.target as HTMLInputElement).value) }),
                h('p', { id: 'h-t-limit', class: 'help' }, 'Agent answers per calendar month. Empty: no limit.'),
              ),
              h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', disabled: busy }, 'Save')),
            ),
          ),
          h(
            'section',
            { class: 'panel', 'aria-labelledby': 'tenant-answering' },
            h('h3', { id: 'tenant-answering' }, 'Answering'),
            h(
              'p',
              null,
              tenant.disabled
                ? 'Disabled: webhooks are stored and acknowledged, nothing is answered, its keys are refused.'
                : "Active: customers' messages are answered.",
            ),
            h(ConfirmButton, {
              label: tenant.disabled ? 'Enable' : 'Disable',
              question: tenant.disabled
                ? `Enable ${tenant.name}? New messages are answered again; those that came meanwhile stay unanswered.`
                : `Disable ${tenant.name}? Its webhooks are still stored and acknowledged, nothing is answered, and its keys and dashboard sessions stop working.`,
              confirmLabel: tenant.disabled ? `Enable ${tenant.name}` : `Disable ${tenant.name}`,
              busy,
              onConfirm: () => void toggle(),
            }),
          ),
          h(ChannelsSection, { tenantId: tenant.id, onChanged: () => void load() }),
          h(
            'form',
            { class: 'panel danger-zone', onSubmit: remove, 'aria-labelledby': 'tenant-delete' },
            h('h3', { id: 'tenant-delete' }, 'Delete'),
            h('p', null, 'Deletes the tenant and every row of it: channels, keys, conversations, messages. Its channels stop routing at once. This cannot be undone; the audit log keeps the record.'),
            h(
              'div',
              { class: 'field' },
              h('label', { for: 't-confirm' }, `Type ${tenant.name} to confirm`),
              h('input', { id: 't-confirm', value: typed, autocomplete: 'off', spellcheck: false, onInput: (e: Event) => setTyped((e.target as HTMLInputElement).value) }),
            ),
            h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'danger', disabled: busy || typed !== tenant.name }, `Delete ${tenant.name}`)),
          ),
        ],
  );
}

function back() {
  return h('p', null, h('a', { href: '#/tenants' }, '← All tenants'));
}
