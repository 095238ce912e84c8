import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type Tool } from './api.ts';

const message = (err: unknown) => (err instanceof ApiError || err instanceof Error ? err.message : String(err));

const EXAMPLE_SCHEMA = JSON.stringify({ type: 'object', properties: { orderId: { type: 'string', description: 'the order number' } }, required: ['orderId'] }, null, 2);

/** The form's values as the inputs hold them. */
interface Form {
  name: string;
  description: string;
  parameters: string;
  url: string;
  secret: string;
  timeoutMs: string;
  safeToRepeat: boolean;
  enabled: boolean;
}

const blank: Form = { name: '', description: '', parameters: EXAMPLE_SCHEMA, url: 'https://', secret: '', timeoutMs: '10000', safeToRepeat: false, enabled: true };

function toForm(t: Tool): Form {
  return {
    name: t.name,
    description: t.description,
    parameters: JSON.stringify(t.parameters, null, 2),
    url: t.url,
    secret: '',
    timeoutMs: String(t.timeoutMs),
    safeToRepeat: t.safeToRepeat,
    enabled: t.enabled,
  };
}

/** The request body; throws when the schema is not JSON (said in the form, nothing sent). */
function toBody(f: Form, editing: boolean): Record<string, unknown> {
  let parameters: unknown;
  try {
    parameters = JSON.parse(f.parameters);
  } catch {
    throw new Error('Arguments schema: not valid JSON.');
  }
  const body: Record<string, unknown> = {
    name: f.name.trim(),
    description: f.description,
    parameters,
    url: f.url.trim(),
    timeoutMs: Number(f.timeoutMs),
    safeToRepeat: f.safeToRepeat,
    enabled: f.enabled,
  };
  // Write-only: on edit, empty keeps the stored secret; on create, empty means unsigned calls.
  if (f.secret.trim()) body.secret = f.secret.trim();
  else if (!editing) body.secret = null;
  return body;
}

/**
 * The tenant's tools (docs/tools.md): the list, a form to add or change one
 * (the arguments' JSON Schema in a textarea, checked by the server when
 * saved), and deleting one (asked twice, in the page).
 */
export function ToolsView() {
  const [tools, setTools] = useState<Tool[] | null>(null);
  const [editing, setEditing] = useState<Tool | 'new' | null>(null);
  const [form, setForm] = useState<Form>(blank);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = () =>
    api.tools().then(
      (r) => setTools(r.items),
      (err) => setError(message(err)),
    );
  useEffect(() => void load(), []);

  const open = (t: Tool | 'new') => {
    setEditing(t);
    setForm(t === 'new' ? blank : toForm(t));
    setError(null);
    setStatus(null);
  };
  const set = (k: keyof Form) => (e: Event) => {
    const t = e.target as HTMLInputElement;
    setForm({ ...form, [k]: t.type === 'checkbox' ? t.checked : t.value });
  };
  const run = async (what: () => Promise<string>) => {
    setBusy(true);
    setError(null);
    setStatus(null);
    try {
      setStatus(await what());
      await load();
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  };
  const save = (ev: Event) => {
    ev.preventDefault();
    void run(async () => {
      const body = toBody(form, editing !== 'new');
      const t = editing === 'new' || editing === null ? await api.createTool(body) : await api.updateTool(editing.id, body);
      setEditing(null);
      return `Tool ${t.name} saved. New answers can use it.`;
    });
  };
  const remove = (t: Tool) =>
    run(async () => {
      setConfirming(null);
      await api.deleteTool(t.id);
      return `Tool ${t.name} deleted.`;
    });

  const input = (k: keyof Form, label: string, help: string, attrs: Record<string, unknown> = {}) =>
    h(
      'div',
      { class: 'field' },
      h('label', { for: 't-' + k }, label),
      h('input', { id: 't-' + k, value: form[k] as string, onInput: set(k), 'aria-describedby': `th-${k}`, ...attrs }),
      h('p', { id: `th-${k}`, class: 'help' }, help),
    );
  const check = (k: keyof Form, label: string, help: string) =>
    h(
      'div',
      { class: 'field check' },
      h('input', { id: 't-' + k, type: 'checkbox', checked: form[k] as boolean, onChange: set(k), 'aria-describedby': `th-${k}` }),
      h('label', { for: 't-' + k }, label),
      h('p', { id: `th-${k}`, class: 'help' }, help),
    );

  return h(
    'main',
    { class: 'page tools' },
    h('h2', null, 'Tools'),
    h('p', { class: 'muted' }, 'Endpoints of yours that the OpenAI-compatible agent may call while it answers, each call signed with the tool\'s secret. Every call shows under the answer it led to.'),
    tools === null && !error ? h('p', { class: 'muted' }, 'Loading…') : null,
    tools !== null && tools.length === 0 ? h('p', { class: 'muted' }, 'No tools yet.') : null,
    tools && tools.length
      ? h(
          'table',
          { class: 'tool-list' },
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'URL'), h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
          h(
            'tbody',
            null,
            tools.map((t) =>
              h(
                'tr',
                { key: t.id, 'data-tool-id': t.id },
                h('td', null, h('code', null, t.name)),
                h('td', { class: 'url' }, t.url),
                h('td', null, [t.enabled ? 'on' : 'off', t.safeToRepeat ? 'safe to repeat' : null].filter(Boolean).join(', ')),
                h(
                  'td',
                  null,
                  h('button', { type: 'button', disabled: busy, onClick: () => open(t) }, 'Edit'),
                  confirming === t.id
                    ? [
                        h('button', { type: 'button', class: 'danger', disabled: busy, onClick: () => void remove(t) }, `Delete ${t.name}`),
                        h('button', { type: 'button', class: 'link', onClick: () => setConfirming(null) }, 'Keep it'),
                      ]
                    : h('button', { type: 'button', disabled: busy, onClick: () => setConfirming(t.id) }, 'Delete'),
                ),
              ),
            ),
          ),
        )
      : null,
    editing === null ? h('div', { class: 'actions' }, h('button', { type: 'button', class: 'primary add-tool', onClick: () => open('new') }, 'Add a tool')) : null,
    editing !== null
      ? h(
          'form',
          { class: 'settings tool-form', onSubmit: save },
          h(
            'fieldset',
            null,
            h('legend', null, editing === 'new' ? 'New tool' : `Edit ${editing.name}`),
            input('name', 'Name', 'Letters, digits, _ and -, up to 64: what the model calls.', { required: true, maxLength: 64, pattern: '[a-zA-Z0-9_\\-]{1,64}' }),
            input('description', 'Description', 'When the model should use it, in a sentence or two.', { maxLength: 1024 }),
            h(
              'div',
              { class: 'field' },
              h('label', { for: 't-parameters' }, 'Arguments (JSON Schema)'),
              h('textarea', { id: 't-parameters', rows: 10, spellcheck: false, value: form.parameters, onInput: set('parameters'), 'aria-describedby': 'th-parameters' }),
              h('p', { id: 'th-parameters', class: 'help' }, 'An object schema. The model\'s arguments are checked against it before your endpoint is called.'),
            ),
            input('url', 'Endpoint URL', 'https. Receives {"tool","arguments","tenantId","conversationId","contact"} as JSON.', { type: 'url', required: true }),
            input(
              'secret',
              'Signing secret',
              editing !== 'new' && editing.hasSecret ? 'A secret is set. Leave empty to keep it.' : 'Signs each call (X-Wagate-Signature). Empty: unsigned.',
              { type: 'password', autocomplete: 'off' },
            ),
            input('timeoutMs', 'Timeout (ms)', '100 to 60000.', { type: 'number', inputMode: 'numeric', min: 100, max: 60000 }),
            check('safeToRepeat', 'Safe to repeat', 'A lookup that changes nothing: a restarted answer may call it again. Otherwise a call is never made twice for the same messages.'),
            check('enabled', 'Enabled', 'Offered to the model.'),
          ),
          h(
            'div',
            { class: 'actions' },
            h('button', { type: 'submit', class: 'primary', disabled: busy }, busy ? 'Saving…' : 'Save tool'),
            h('button', { type: 'button', class: 'link', onClick: () => setEditing(null) }, 'Cancel'),
          ),
        )
      : null,
    status ? h('p', { class: 'ok', role: 'status' }, status) : null,
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
  );
}
