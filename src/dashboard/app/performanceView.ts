import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.ts';

const POLL_MS = 5_000;
const KEEP = 60;

/** The timed series of /performance-metrics the charts draw (last 5 minutes). */
const SERIES: { key: string; title: string }[] = [
  { key: 'avg_message_processing_time', title: 'Message processing (turn, end to end)' },
  { key: 'ai_processing_time', title: 'Agent (model) time' },
  { key: 'queue_wait_time', title: 'Queue wait' },
  { key: 'database_operation_time', title: 'Database statement' },
];

interface Sample {
  at: number;
  body: Record<string, any>;
}

/** Admin only: charts of the performance metrics, sampled every 5 s while the page is open. */
export function PerformanceView() {
  const [samples, setSamples] = useState<Sample[]>([]);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let stopped = false;
    const tick = async () => {
      try {
        const body = await api.performance();
        if (!stopped) setSamples((prev) => [...prev, { at: Date.now(), body }].slice(-KEEP));
        setError(null);
      } catch (err) {
        setError(err instanceof Error ? err.message : String(err));
      }
    };
    void tick();
    const timer = setInterval(() => void tick(), POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);

  const last = samples[samples.length - 1]?.body;
  return h(
    'main',
    { class: 'page' },
    h('h2', null, 'Performance'),
    h('p', { class: 'muted' }, 'Last 5 minutes, sampled every 5 seconds while this page is open. Milliseconds.'),
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    last
      ? h(
          'dl',
          { class: 'figures' },
          figure('Turns running', `${last.concurrent_messages?.current ?? 0} (peak ${last.concurrent_messages?.peak ?? 0})`),
          figure('Pool connections', `${last.database_connection_count?.total ?? 0} (idle ${last.database_connection_count?.idle ?? 0}, waiting ${last.database_connection_count?.waiting ?? 0})`),
          figure('Connections opened since start', String(last.database_connection_count?.opened_since_start ?? 0)),
        )
      : null,
    h(
      'div',
      { class: 'charts' },
      SERIES.map((s) => h(Chart, { key: s.key, title: s.title, points: samples.map((x) => ({ at: x.at, v: x.body[s.key]?.last_5_minutes ?? {} })) })),
    ),
  );
}

function figure(label: string, value: string) {
  return h('div', null, h('dt', null, label), h('dd', null, value));
}

const W = 320;
const H = 120;
const LINES: { key: 'p50' | 'p95' | 'p99'; cls: string }[] = [
  { key: 'p50', cls: 'l50' },
  { key: 'p95', cls: 'l95' },
  { key: 'p99', cls: 'l99' },
];

/** A small SVG line chart of p50/p95/p99 over the samples. */
function Chart(props: { title: string; points: { at: number; v: Record<string, number | null> }[] }) {
  // One sample is a flat line across, not an invisible dot.
  const pts = props.points.length === 1 ? [props.points[0], props.points[0]] : props.points;
  const max = Math.max(1, ...pts.flatMap((p) => LINES.map((l) => p.v[l.key] ?? 0)));
  const x = (i: number) => (pts.length <= 1 ? W : (i / (pts.length - 1)) * W);
  const y = (v: number) => H - (v / max) * (H - 8);
  const now = pts[pts.length - 1]?.v ?? {};
  const fmt = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v < 10 ? v.toFixed(2) : v.toFixed(0));
  return h(
    'figure',
    { class: 'chart' },
    h('figcaption', null, props.title),
    h(
      'svg',
      { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${props.title}: p50 ${fmt(now.p50)} ms, p95 ${fmt(now.p95)} ms, p99 ${fmt(now.p99)} ms` },
      h('line', { x1: 0, y1: H, x2: W, y2: H, class: 'axis' }),
      LINES.map((l) =>
        h('polyline', {
          class: l.cls,
          fill: 'none',
          points: pts.map((p, i) => `${x(i).toFixed(1)},${y(p.v[l.key] ?? 0).toFixed(1)}`).join(' '),
        }),
      ),
    ),
    h(
      'p',
      { class: 'legend' },
      LINES.map((l) => h('span', { class: l.cls }, `${l.key} ${fmt(now[l.key])}`)),
      h('span', { class: 'muted' }, ` max ${fmt(max)} ms`),
    ),
  );
}
