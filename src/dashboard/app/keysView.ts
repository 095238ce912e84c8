import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type ApiKeyInfo } from './api.ts';
import { fullTime, shortTime } from './format.ts';

const message = (err: unknown) => (err instanceof ApiError || err instanceof Error ? err.message : String(err));

/**
 * The tenant's API keys in Settings: the list (prefix, created, last used),
 * creating one (shown this once), and revoking one (asked twice, in the page:
 * no browser dialog).
 */
export function KeysSection(props: { tenantId: string }) {
  const [keys, setKeys] = useState<ApiKeyInfo[] | null>(null);
  const [created, setCreated] = useState<{ id: string; key: string } | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = () =>
    api.apiKeys(props.tenantId).then(
      (r) => setKeys(r.items),
      (err) => setError(message(err)),
    );
  useEffect(() => void load(), [props.tenantId]);

  const run = async (what: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    setStatus(null);
    try {
      await what();
      await load();
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  };
  const create = () =>
    run(async () => {
      setCreated(await api.createApiKey(props.tenantId));
    });
  const revoke = (id: string) =>
    run(async () => {
      setConfirming(null);
      if (created?.id === id) setCreated(null);
      const k = await api.revokeApiKey(id);
      setStatus(`Key ${k.prefix}… revoked. It no longer works anywhere.`);
    });

  const active = (keys ?? []).filter((k) => k.revokedAt === null);
  return h(
    'section',
    { class: 'keys', 'aria-labelledby': 'keys-title' },
    h('h2', { id: 'keys-title' }, 'Keys'),
    h('p', { class: 'muted' }, 'Keys for the API and for signing in here. Revoking the key you signed in with signs you out.'),
    keys === null && !error ? h('p', { class: 'muted' }, 'Loading…') : null,
    keys !== null && active.length === 0 ? h('p', { class: 'muted' }, 'No key works at the moment.') : null,
    active.length
      ? h(
          'table',
          { class: 'key-list' },
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'Created'), h('th', { scope: 'col' }, 'Last used'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
          h(
            'tbody',
            null,
            active.map((k) =>
              h(
                'tr',
                { key: k.id, 'data-key-id': k.id },
                h('td', null, h('code', null, k.prefix + '…')),
                h('td', { title: fullTime(k.createdAt) }, shortTime(k.createdAt)),
                h('td', k.lastUsedAt ? { title: fullTime(k.lastUsedAt) } : null, k.lastUsedAt ? shortTime(k.lastUsedAt) : 'never'),
                h(
                  'td',
                  null,
                  confirming === k.id
                    ? [
                        h('button', { type: 'button', class: 'danger', disabled: busy, onClick: () => void revoke(k.id) }, `Revoke ${k.prefix}…`),
                        h('button', { type: 'button', class: 'link', onClick: () => setConfirming(null) }, 'Keep it'),
                      ]
                    : h('button', { type: 'button', disabled: busy, onClick: () => setConfirming(k.id) }, 'Revoke'),
                ),
              ),
            ),
          ),
        )
      : null,
    created
      ? h(
          'div',
          { class: 'new-key', role: 'status' },
          h('p', null, 'Your new key. Copy it now: it is not shown again.'),
          h('input', { class: 'new-key-value', readOnly: true, value: created.key, 'aria-label': 'The new key', onFocus: (e: Event) => (e.target as HTMLInputElement).select() }),
          h('button', { type: 'button', class: 'link', onClick: () => setCreated(null) }, 'Done'),
        )
      : null,
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', class: 'create-key', disabled: busy, onClick: () => void create() }, 'Create a key'),
      status ? h('span', { class: 'ok', role: 'status' }, status) : null,
      error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    ),
  );
}
