import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, type Session } from './api.ts';

/** The sign-in form: a key, kept by the server in an httpOnly cookie, never in this page's storage. */
export function SignIn(props: { onSignedIn: (s: Session) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);

  const submit = async (ev: Event) => {
    ev.preventDefault();
    if (!key.trim()) return;
    setBusy(true);
    setError(null);
    try {
      const s = await api.signIn(key.trim());
      setKey('');
      props.onSignedIn(s);
    } catch (err) {
      setError(
        err instanceof ApiError
          ? err.status === 401
            ? 'That key is not valid. Use a tenant key (wgk_…) or the admin key.'
            : err.message
          : 'The gateway cannot be reached.',
      );
    } finally {
      setBusy(false);
    }
  };

  return h(
    'main',
    { class: 'signin' },
    h(
      'form',
      { class: 'card signin-card', onSubmit: submit, 'aria-labelledby': 'signin-title' },
      h('h1', { id: 'signin-title' }, 'wagate'),
      h('p', { class: 'muted' }, 'Sign in with your API key to see your WhatsApp conversations.'),
      h('label', { for: 'key' }, 'API key'),
      h('input', {
        id: 'key',
        ref: input,
        type: 'password',
        name: 'key',
        autocomplete: 'current-password',
        spellcheck: false,
        placeholder: 'wgk_…',
        value: key,
        onInput: (e: Event) => setKey((e.target as HTMLInputElement).value),
        'aria-describedby': error ? 'signin-error' : undefined,
        'aria-invalid': error ? 'true' : undefined,
      }),
      error ? h('p', { id: 'signin-error', class: 'error', role: 'alert' }, error) : null,
      h('button', { type: 'submit', class: 'primary', disabled: busy }, busy ? 'Signing in…' : 'Sign in'),
    ),
  );
}
