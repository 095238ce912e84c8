import { h, type ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type TenantSettings } from './api.ts';
import { EventsSection } from './eventsView.ts';
import { KeysSection } from './keysView.ts';

/** The form's values: every field as the inputs hold it (text). */
type Form = Record<string, string | boolean>;

function toForm(t: TenantSettings): Form {
  const a = t.agent;
  return {
    provider: a.provider,
    model: a.model ?? '',
    baseUrl: a.baseUrl ?? '',
    apiKey: '',
    url: a.url ?? '',
    secret: '',
    systemPrompt: a.systemPrompt,
    historyLength: String(a.historyLength),
    timeoutMs: String(a.timeoutMs),
    coalesce: a.coalesce,
    debounceMs: String(a.debounceMs),
    maxDebounceMs: String(a.maxDebounceMs),
    budgetAnswers: String(a.answerBudget.answers),
    budgetSeconds: String(a.answerBudget.perSeconds),
    maxToolRounds: String(a.maxToolRounds),
    handoffKeywords: a.handoffKeywords.join(', '),
    handoffMessage: a.handoffMessage ?? '',
    quotaNotice: a.quotaNotice ?? '',
    fallbackMessage: a.fallbackMessage,
    handoffOnAgentFailure: a.handoffOnAgentFailure,
    markReadWithTyping: a.markReadWithTyping,
    autoPauseOnOperatorReply: a.autoPauseOnOperatorReply,
    resumeAfterMinutes: a.resumeAfterMinutes === null ? '' : String(a.resumeAfterMinutes),
    vision: a.vision,
    transcribe: a.transcriptionModel !== null,
    transcriptionModel: a.transcriptionModel ?? '',
  };
}

const int = (s: string | boolean) => Number(String(s).trim());
const orNull = (s: string | boolean) => (String(s).trim() === '' ? null : String(s));

/**
 * The PATCH body: what the form says, numbers as numbers, blanks as null where
 * the API allows it. The limit and the ceilings are the operator's, so they are
 * never sent (a tenant key moving them gets 403).
 */
function toPatch(f: Form): Record<string, unknown> {
  const agent: Record<string, unknown> = {
    provider: f.provider,
    systemPrompt: f.systemPrompt,
    historyLength: int(f.historyLength),
    timeoutMs: int(f.timeoutMs),
    coalesce: f.coalesce,
    debounceMs: int(f.debounceMs),
    maxDebounceMs: int(f.maxDebounceMs),
    answerBudget: { answers: int(f.budgetAnswers), perSeconds: int(f.budgetSeconds) },
    maxToolRounds: int(f.maxToolRounds),
    handoffKeywords: String(f.handoffKeywords)
      .split(',')
      .map((k) => k.trim())
      .filter(Boolean),
    handoffMessage: orNull(f.handoffMessage),
    quotaNotice: orNull(f.quotaNotice),
    fallbackMessage: f.fallbackMessage,
    handoffOnAgentFailure: f.handoffOnAgentFailure,
    markReadWithTyping: f.markReadWithTyping,
    autoPauseOnOperatorReply: f.autoPauseOnOperatorReply,
    vision: f.vision,
    resumeAfterMinutes: orNull(f.resumeAfterMinutes) === null ? null : int(f.resumeAfterMinutes),
    baseUrl: orNull(f.baseUrl),
    url: orNull(f.url),
  };
  // Empty: back to the gateway's default model.
  agent.model = String(f.model).trim() || null;
  // Voice notes: null turns transcription off; "" is the gateway's default transcription model.
  agent.transcriptionModel = f.transcribe ? String(f.transcriptionModel).trim() : null;
  // Secrets are write-only: left empty, the stored one stays.
  if (String(f.apiKey).trim()) agent.apiKey = String(f.apiKey).trim();
  if (String(f.secret).trim()) agent.secret = String(f.secret).trim();
  return { agent };
}

/** A value the operator sets, shown and not editable. */
function fixed(label: string, value: string, help: string) {
  return h('div', { class: 'field' }, h('span', { class: 'label' }, label), h('p', { class: 'fixed' }, value), h('p', { class: 'help' }, help));
}

/** The tenant's agent settings (provider, model, prompt, coalescing, debounce, answer budget, handoff, resume timer; the operator's limits read-only) and its keys. */
export function SettingsView(props: { onSaved: (t: TenantSettings) => void }) {
  const [tenant, setTenant] = useState<TenantSettings | null>(null);
  const [form, setForm] = useState<Form | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api.settings().then(
      (t) => {
        setTenant(t);
        setForm(toForm(t));
      },
      (err) => setError(err instanceof Error ? err.message : String(err)),
    );
  }, []);

  if (!form || !tenant) return h('main', { class: 'page' }, error ? h('p', { class: 'error', role: 'alert' }, error) : h('p', { class: 'muted' }, 'Loading…'));

  const set = (k: string) => (e: Event) => {
    const t = e.target as HTMLInputElement;
    setForm({ ...form, [k]: t.type === 'checkbox' ? t.checked : t.value });
    setStatus(null);
  };
  const text = (k: string, label: string, help?: string, attrs: Record<string, unknown> = {}) =>
    field(k, label, help, h('input', { id: 'f-' + k, name: k, value: form[k] as string, onInput: set(k), 'aria-describedby': help ? `h-${k}` : undefined, ...attrs }));
  const num = (k: string, label: string, help?: string, attrs: Record<string, unknown> = {}) => text(k, label, help, { type: 'number', inputMode: 'numeric', min: 0, ...attrs });
  const check = (k: string, label: string, help?: string) =>
    h(
      'div',
      { class: 'field check' },
      h('input', { id: 'f-' + k, type: 'checkbox', checked: form[k] as boolean, onChange: set(k), 'aria-describedby': help ? `h-${k}` : undefined }),
      h('label', { for: 'f-' + k }, label),
      help ? h('p', { id: `h-${k}`, class: 'help' }, help) : null,
    );
  const select = (k: string, label: string, options: [string, string][], help?: string) =>
    field(
      k,
      label,
      help,
      h('select', { id: 'f-' + k, value: form[k] as string, onChange: set(k), 'aria-describedby': help ? `h-${k}` : undefined }, options.map(([v, l]) => h('option', { value: v }, l))),
    );

  const save = async (ev: Event) => {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    setStatus(null);
    try {
      const t = await api.saveSettings(toPatch(form));
      setTenant(t);
      setForm(toForm(t));
      setStatus('Saved. New turns use these settings.');
      props.onSaved(t);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return h(
    'main',
    { class: 'page' },
    h('h2', null, 'Agent settings'),
    h('p', { class: 'muted' }, tenant.name),
    h(
      'form',
      { class: 'settings', onSubmit: save },
      group(
        'Model',
        select('provider', 'Provider', [
          ['demo', 'Demo agent (built in, offline)'],
          ['openai', 'OpenAI-compatible model'],
          ['http', 'Your own HTTP endpoint'],
        ]),
        form.provider === 'openai'
          ? text('model', 'Model', `Empty: the gateway default. On the gateway's key: ${tenant.limits.effectiveAllowedModels.join(', ')}. Any model with your own key or base URL.`)
          : null,
        form.provider === 'openai' ? text('baseUrl', 'Base URL', 'Empty: the gateway default. Any OpenAI-compatible endpoint.', { type: 'url', placeholder: 'https://api.openai.com/v1' }) : null,
        form.provider === 'openai'
          ? text('apiKey', 'API key', tenant.agent.hasApiKey ? 'A key is set. Leave empty to keep it.' : 'Empty: the gateway default key.', { type: 'password', autocomplete: 'off' })
          : null,
        form.provider === 'http' ? text('url', 'Endpoint URL', 'Receives the conversation as JSON; answers {"reply": "…"}.', { type: 'url' }) : null,
        form.provider === 'http'
          ? text('secret', 'Signing secret', tenant.agent.hasSecret ? 'A secret is set. Leave empty to keep it.' : 'Signs each request (HMAC).', { type: 'password', autocomplete: 'off' })
          : null,
        field(
          'systemPrompt',
          'System prompt',
          `What the agent is told before every conversation. At most ${tenant.limits.maxSystemPromptChars.toLocaleString('en')} characters.`,
          h('textarea', {
            id: 'f-systemPrompt',
            rows: 6,
            value: form.systemPrompt as string,
            onInput: set('systemPrompt'),
            'aria-describedby': 'h-systemPrompt',
            maxLength: tenant.limits.maxSystemPromptChars,
          }),
        ),
        num('historyLength', 'History length', `Messages of the conversation the agent sees, at most ${tenant.limits.maxHistoryLength}.`, { max: tenant.limits.maxHistoryLength }),
        num('timeoutMs', 'Timeout (ms)', 'An agent call longer than this is tried again (3 tries in all).', { min: 100, max: 300000 }),
        // The demo agent calls the order_status tool under the same setting (0: it does not).
        form.provider !== 'http' ? num('maxToolRounds', 'Tool rounds', 'Rounds of calls to your tools (the Tools page) in one answer, 0 to 8. 0: no tools.', { max: 8 }) : null,
        form.provider === 'openai' ? check('vision', 'The model takes images', "Customers' photos and stickers reach it as images, not only by their caption.") : null,
      ),
      group(
        'Voice notes',
        check('transcribe', 'Transcribe voice notes', 'The agent reads what the customer said. Off: it is told only that a voice note came.'),
        form.transcribe
          ? text(
              'transcriptionModel',
              'Transcription model',
              `Empty: the gateway default${transcriptionModelsNote(tenant)}.` + (form.provider === 'openai' ? ' Any model with your own key or base URL.' : ''),
              { placeholder: 'gateway default', autocomplete: 'off' },
            )
          : null,
      ),
      group(
        'Bursts of messages',
        select('coalesce', 'Messages during a running answer', [
          ['restart', 'Restart the answer with all of them'],
          ['queue', 'Answer them in the next turn'],
        ]),
        num('debounceMs', 'Debounce (ms)', 'Quiet time to wait for more messages before answering. 0: answer at once.', { max: 60000 }),
        num('maxDebounceMs', 'Longest wait (ms)', 'After this the bot answers even if messages keep coming.', { max: 300000 }),
        num('budgetAnswers', 'Answers per customer', 'At most this many answers to one customer in the window below; what they write meanwhile gets one answer when the window allows.', { min: 1, max: 100 }),
        num('budgetSeconds', 'Window (seconds)', 'The sliding window of the answer budget.', { min: 1, max: 3600 }),
      ),
      group(
        'Handing over to people',
        text('handoffKeywords', 'Handoff keywords', 'Comma separated. A customer message with one of them pauses the bot.'),
        text('handoffMessage', 'Handoff reply', 'Sent when a keyword pauses the bot. Empty: nothing is sent.'),
        check('autoPauseOnOperatorReply', 'Pause the bot when a person answers', 'From this dashboard, the API or your WhatsApp Business app.'),
        num('resumeAfterMinutes', 'Resume after (minutes)', 'A paused conversation goes back to the bot after this long. Empty: it stays paused.', { min: 1, max: 525600 }),
        check('handoffOnAgentFailure', 'Pause the bot when the agent fails'),
        text('fallbackMessage', 'Fallback message', 'Sent when the agent fails. Empty: nothing is sent.'),
        check('markReadWithTyping', 'Mark messages read and show "typing…" while answering'),
      ),
      group(
        'Limit',
        fixed(
          'Monthly answers',
          tenant.monthlyMessageLimit === null ? 'Unlimited' : tenant.monthlyMessageLimit.toLocaleString('en'),
          'Agent answers per calendar month. Set by the gateway operator.',
        ),
        text('quotaNotice', 'Limit notice', 'Sent once a month when the limit is reached. Empty: nothing is sent.'),
      ),
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'submit', class: 'primary', disabled: busy }, busy ? 'Saving…' : 'Save'),
        status ? h('span', { class: 'ok', role: 'status' }, status) : null,
        error ? h('p', { class: 'error', role: 'alert' }, error) : null,
      ),
    ),
    h(KeysSection, { tenantId: tenant.id }),
    h(EventsSection, null),
  );
}

/** What the tenant may pick on the gateway's key, for the transcription model's help text. */
function transcriptionModelsNote(t: TenantSettings): string {
  const allowed = t.limits.effectiveAllowedTranscriptionModels;
  return allowed.length > 0 ? `. On the gateway's key: ${allowed.join(', ')}` : " (this gateway has none: voice notes are not transcribed on its key)";
}

function field(k: string, label: string, help: string | undefined, control: ComponentChildren) {
  return h('div', { class: 'field' }, h('label', { for: 'f-' + k }, label), control, help ? h('p', { id: `h-${k}`, class: 'help' }, help) : null);
}

function group(legend: string, ...children: ComponentChildren[]) {
  return h('fieldset', null, h('legend', null, legend), ...(children as ComponentChildren[]));
}
