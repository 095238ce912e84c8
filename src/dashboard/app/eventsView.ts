import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { EVENT_TYPES } from '../../events/eventTypes.ts';
import { api, ApiError, type EventDelivery, type EventSubscription } from './api.ts';
import { fullTime, shortTime } from './format.ts';

const message = (err: unknown) => (err instanceof ApiError || err instanceof Error ? err.message : String(err));

/** An attempt's outcome in words. */
function outcome(d: EventDelivery): string {
  if (d.status === 'delivered') return `delivered${d.lastStatus ? ` (HTTP ${d.lastStatus})` : ''}`;
  const last = d.lastError ?? (d.lastStatus ? `HTTP ${d.lastStatus}` : null);
  if (d.status === 'failed') return `failed after ${d.attempts} attempts${last ? `: ${last}` : ''}`;
  if (d.attempts === 0) return 'waiting';
  return `retrying${d.nextAt ? ` at ${shortTime(d.nextAt)}` : ''} (${d.attempts} attempts${last ? `, last: ${last}` : ''})`;
}

/** One subscription's delivery log, with a Redeliver button per event. */
function DeliveryLog(props: { subscriptionId: string }) {
  const [items, setItems] = useState<EventDelivery[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const load = () => api.eventDeliveries(props.subscriptionId).then((p) => setItems(p.items), (err) => setError(message(err)));
  useEffect(() => void load(), [props.subscriptionId]);
  const redeliver = async (d: EventDelivery) => {
    setError(null);
    try {
      await api.redeliver(d.id);
      setStatus(`Event ${d.eventId} (${d.type}) will be delivered again.`);
      await load();
    } catch (err) {
      setError(message(err));
    }
  };
  return h(
    'div',
    { class: 'delivery-log' },
    items === null && !error ? h('p', { class: 'muted' }, 'Loading…') : null,
    items !== null && items.length === 0 ? h('p', { class: 'muted' }, 'No event yet.') : null,
    items?.length
      ? h(
          'table',
          null,
          h('caption', { class: 'visually-hidden' }, 'The latest deliveries, newest first'),
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Event'), h('th', { scope: 'col' }, 'When'), h('th', { scope: 'col' }, 'Outcome'), h('th', { scope: 'col' }, 'Latency'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
          h(
            'tbody',
            null,
            items.map((d) =>
              h(
                'tr',
                { key: d.id, 'data-delivery-id': d.id, class: 'delivery-' + d.status },
                h('td', null, h('code', null, d.type), ' ', h('span', { class: 'muted' }, `#${d.eventId}`)),
                h('td', { title: fullTime(d.createdAt) }, shortTime(d.createdAt)),
                h('td', null, outcome(d)),
                h('td', null, d.log.length ? `${d.log[d.log.length - 1].ms} ms` : '–'),
                h('td', null, d.status === 'pending' ? null : h('button', { type: 'button', class: 'link', onClick: () => void redeliver(d) }, 'Redeliver')),
              ),
            ),
          ),
        )
      : null,
    status ? h('p', { class: 'ok', role: 'status' }, status) : null,
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
  );
}

/**
 * Event webhooks in Settings (docs/events.md): the tenant's subscriptions
 * (URL, events, state and why it is paused), adding one, pausing, resuming
 * and removing it, and each one's delivery log with redelivery.
 */
export function EventsSection() {
  const [subs, setSubs] = useState<EventSubscription[] | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [form, setForm] = useState({ url: '', secret: '', all: true, events: [] as string[] });
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = () => api.eventSubscriptions().then((r) => setSubs(r.items), (err) => setError(message(err)));
  useEffect(() => void load(), []);
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
  const add = (ev: Event) => {
    ev.preventDefault();
    void run(async () => {
      const s = await api.createEventSubscription({ url: form.url.trim(), secret: form.secret, events: form.all ? ['*'] : form.events });
      setForm({ url: '', secret: '', all: true, events: [] });
      return `Subscribed ${s.url}.`;
    });
  };
  const toggle = (t: string) => setForm({ ...form, events: form.events.includes(t) ? form.events.filter((x) => x !== t) : [...form.events, t] });

  return h(
    'section',
    { class: 'event-subscriptions', 'aria-labelledby': 'events-title' },
    h('h2', { id: 'events-title' }, 'Event webhooks'),
    h('p', { class: 'muted' }, 'URLs that receive what happens in your conversations, signed with your secret (X-Wagate-Signature).'),
    subs === null && !error ? h('p', { class: 'muted' }, 'Loading…') : null,
    subs !== null && subs.length === 0 ? h('p', { class: 'muted' }, 'No subscription yet.') : null,
    subs?.length
      ? h(
          'ul',
          { class: 'subscription-list' },
          subs.map((s) =>
            h(
              'li',
              { key: s.id, 'data-subscription-id': s.id },
              h('p', null, h('code', null, s.url), ' ', h('span', { class: s.paused ? 'badge paused' : 'badge' }, s.paused ? 'paused' : 'active')),
              h('p', { class: 'muted' }, s.events.includes('*') ? 'All events' : s.events.join(', ')),
              s.paused && s.pauseReason ? h('p', { class: 'error' }, s.pauseReason) : null,
              !s.paused && s.failingSince ? h('p', { class: 'error' }, `Failing since ${shortTime(s.failingSince)} (${s.consecutiveFailures} attempts in a row).`) : null,
              h(
                'div',
                { class: 'actions' },
                h('button', { type: 'button', disabled: busy, onClick: () => void run(async () => (await api.updateEventSubscription(s.id, { paused: !s.paused }), s.paused ? 'Resumed.' : 'Paused.')) }, s.paused ? 'Resume' : 'Pause'),
                h('button', { type: 'button', 'aria-expanded': open === s.id, onClick: () => setOpen(open === s.id ? null : s.id) }, open === s.id ? 'Hide deliveries' : 'Deliveries'),
                h('button', { type: 'button', class: 'danger', disabled: busy, onClick: () => void run(async () => (await api.deleteEventSubscription(s.id), `Removed ${s.url}.`)) }, 'Remove'),
              ),
              open === s.id ? h(DeliveryLog, { subscriptionId: s.id }) : null,
            ),
          ),
        )
      : null,
    h(
      'form',
      { class: 'add-subscription', onSubmit: add },
      h('h3', null, 'Add a subscription'),
      h('div', { class: 'field' }, h('label', { for: 'ev-url' }, 'URL'), h('input', { id: 'ev-url', type: 'url', required: true, placeholder: 'https://', value: form.url, onInput: (e: Event) => setForm({ ...form, url: (e.target as HTMLInputElement).value }) })),
      h(
        'div',
        { class: 'field' },
        h('label', { for: 'ev-secret' }, 'Secret'),
        h('input', { id: 'ev-secret', type: 'password', required: true, minLength: 16, autoComplete: 'new-password', 'aria-describedby': 'ev-secret-help', value: form.secret, onInput: (e: Event) => setForm({ ...form, secret: (e.target as HTMLInputElement).value }) }),
        h('p', { id: 'ev-secret-help', class: 'help' }, 'At least 16 characters; your receiver checks the signature with it. It is not shown again.'),
      ),
      h('div', { class: 'field check' }, h('input', { id: 'ev-all', type: 'checkbox', checked: form.all, onChange: () => setForm({ ...form, all: !form.all }) }), h('label', { for: 'ev-all' }, 'All events')),
      form.all
        ? null
        : h(
            'fieldset',
            null,
            h('legend', null, 'Events'),
            EVENT_TYPES.map((t) => h('div', { class: 'field check', key: t }, h('input', { id: 'ev-' + t, type: 'checkbox', checked: form.events.includes(t), onChange: () => toggle(t) }), h('label', { for: 'ev-' + t }, t))),
          ),
      h('button', { type: 'submit', disabled: busy || (!form.all && form.events.length === 0) }, 'Subscribe'),
    ),
    status ? h('p', { class: 'ok', role: 'status' }, status) : null,
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
  );
}
