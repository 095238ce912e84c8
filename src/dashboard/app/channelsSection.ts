import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type Channel } from './api.ts';
import { ConfirmButton } from './confirmButton.ts';
import { errorText } from './format.ts';

/**
 * Admin only: a tenant's channels (its WhatsApp numbers), with rotating a
 * channel's access token (write-only: typed here, never shown) and removing
 * a channel (asked first).
 */
export function ChannelsSection(props: { tenantId: string; onChanged: () => void }) {
  const [channels, setChannels] = useState<Channel[] | null>(null);
  const [rotating, setRotating] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = () =>
    api.channels(props.tenantId).then(
      (r) => setChannels(r.items),
      (err) => setError(errorText(err)),
    );
  useEffect(() => void load(), [props.tenantId]);

  const run = async (what: () => Promise<string>) => {
    setBusy(true);
    setError(null);
    setStatus(null);
    try {
      setStatus(await what());
      await load();
      props.onChanged();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const rotate = (c: Channel, token: string) =>
    run(async () => {
      await api.rotateChannelToken(c.id, token);
      setRotating(null);
      return `The access token of ${c.displayPhoneNumber} is replaced. Messages are sent with the new one from now on.`;
    });
  const remove = (c: Channel) =>
    run(async () => {
      await api.removeChannel(c.id);
      return `${c.displayPhoneNumber} is removed: it routes nothing, and its conversations are removed in the background.`;
    });

  return h(
    'section',
    { class: 'panel', 'aria-labelledby': 'channels-title' },
    h('h3', { id: 'channels-title' }, 'Channels'),
    channels === null && !error ? h('p', { class: 'muted' }, 'Loading…') : null,
    channels !== null && channels.length === 0 ? h('p', { class: 'muted' }, 'No channel: this tenant has no WhatsApp number.') : null,
    channels !== null && channels.length > 0
      ? h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'grid channel-list', 'aria-labelledby': 'channels-title' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                h('th', { scope: 'col' }, 'Number'),
                h('th', { scope: 'col' }, 'Phone number id'),
                h('th', { scope: 'col' }, 'Messages per second'),
                h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')),
              ),
            ),
            h(
              'tbody',
              null,
              channels.map((c) =>
                h(
                  'tr',
                  { key: c.id, 'data-channel-id': c.id },
                  h('th', { scope: 'row' }, c.displayPhoneNumber),
                  h('td', null, h('code', null, c.phoneNumberId)),
                  h('td', null, String(c.messagesPerSecond)),
                  h(
                    'td',
                    { class: 'row-actions' },
                    rotating === c.id
                      ? h(TokenForm, { channel: c, busy, onSave: (token) => void rotate(c, token), onCancel: () => setRotating(null) })
                      : h('button', { type: 'button', disabled: busy, onClick: () => setRotating(c.id) }, 'Rotate token'),
                    h(ConfirmButton, {
                      label: 'Remove',
                      question: `Remove ${c.displayPhoneNumber}? It stops routing now; its contacts, conversations and messages are removed.`,
                      confirmLabel: `Remove ${c.displayPhoneNumber}`,
                      busy,
                      onConfirm: () => void remove(c),
                    }),
                  ),
                ),
              ),
            ),
          ),
        )
      : null,
    status ? h('p', { class: 'ok', role: 'status' }, status) : null,
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
  );
}

/** The new access token of one channel: a password field, focused when it opens. */
function TokenForm(props: { channel: Channel; busy: boolean; onSave: (token: string) => void; onCancel: () => void }) {
  const [token, setToken] = useState('');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  const id = `token-${props.channel.id}`;
  return h(
    'form',
    {
      class: 'token-form',
      onSubmit: (ev: Event) => {
        ev.preventDefault();
        if (token.trim()) props.onSave(token.trim());
      },
    },
    h('label', { for: id }, `New access token for ${props.channel.displayPhoneNumber}`),
    h('input', { id, ref: input, type: 'password', autocomplete: 'off', spellcheck: false, required: true, maxLength: 4096, value: token, onInput: (e: Event) => setToken((e.target as HTMLInputElement).value) }),
    h('button', { type: 'submit', class: 'primary', disabled: props.busy || !token.trim() }, 'Save token'),
    h('button', { type: 'button', class: 'link', onClick: props.onCancel }, 'Cancel'),
  );
}
