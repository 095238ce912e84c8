import type { RunDetails, RunResult } from './run.ts';
import type { SoakSample } from './soak.ts';

/** The benchmark's JSON output (docs/performance.md): one object per run. */
export interface BenchReport {
  runs: (RunResult & { samples?: SoakSample[] })[];
}

type Better = 'higher' | 'lower';

const ROWS: { label: string; better: Better; get: (r: RunResult) => number | null; mediaOnly?: boolean }[] = [
  { label: 'messages answered per second', better: 'higher', get: (r) => r.messagesPerSecond },
  { label: 'webhook acknowledgement p50 (ms)', better: 'lower', get: (r) => r.ackMs.p50 },
  { label: 'webhook acknowledgement p99 (ms)', better: 'lower', get: (r) => r.ackMs.p99 },
  { label: 'gateway overhead p50 (ms)', better: 'lower', get: (r) => r.overheadMs.p50 },
  { label: 'gateway overhead p99 (ms)', better: 'lower', get: (r) => r.overheadMs.p99 },
  { label: 'end-to-end p50 (ms)', better: 'lower', get: (r) => r.endToEndMs.p50 },
  { label: 'end-to-end p99 (ms)', better: 'lower', get: (r) => r.endToEndMs.p99 },
  { label: 'voice notes among the messages (%)', better: 'lower', get: (r) => (r.mediaShare === undefined ? null : r.mediaShare * 100), mediaOnly: true },
  { label: 'text answers end-to-end p99 (ms)', better: 'lower', get: (r) => r.textEndToEndMs?.p99 ?? null, mediaOnly: true },
  { label: 'database round trips per answered message', better: 'lower', get: (r) => r.dbRoundTripsPerMessage },
  { label: 'new connections per answered message', better: 'lower', get: (r) => r.connectionsOpenedPerMessage },
  { label: 'peak RSS (MB)', better: 'lower', get: (r) => r.peakRssMb },
  { label: 'messages answered in the window', better: 'higher', get: (r) => r.messages },
];

/** How many times better `a` (wagate) is than `b` (baseline); "–" when unknown. */
export function gain(a: number | null, b: number | null, better: Better): string {
  if (a === null || b === null) return '–';
  const [num, den] = better === 'higher' ? [a, b] : [b, a];
  if (den === 0) return num === 0 ? '1×' : '∞';
  const g = num / den;
  return `${g >= 100 ? g.toFixed(0) : g >= 10 ? g.toFixed(1) : g.toFixed(2)}×`;
}

function fmt(v: number | null): string {
  if (v === null) return '–';
  if (v === 0) return '0';
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/**
 * One markdown table: for each model latency, each wagate run beside the
 * baseline run of the same latency and the gain ("×" how many times better,
 * whichever direction is better for that row); then a few lines per run.
 */
export function markdown(runs: { result: RunResult; details: RunDetails }[]): string {
  const latencies = [...new Set(runs.map((r) => r.result.modelLatencyMs))];
  const cols: { title: string; value: (row: (typeof ROWS)[number]) => string }[] = [];
  for (const lat of latencies) {
    const base = runs.find((r) => r.result.modelLatencyMs === lat && r.result.pipeline === 'baseline')?.result ?? null;
    for (const w of runs.filter((r) => r.result.modelLatencyMs === lat && r.result.pipeline === 'wagate')) {
      const p = w.result.processes;
      cols.push({ title: `wagate${w.result.events ? ' with events' : ''}${p > 1 ? ` ×${p} processes` : ''}${w.result.pooler ? ' through PgBouncer' : ''}, model ${lat} ms`, value: (row) => fmt(row.get(w.result)) });
      if (base) cols.push({ title: 'gain', value: (row) => gain(row.get(w.result), row.get(base), row.better) });
    }
    if (base) cols.push({ title: `baseline, model ${lat} ms`, value: (row) => fmt(row.get(base)) });
  }
  const lines = [`| | ${cols.map((c) => c.title).join(' | ')} |`, `|---|${cols.map(() => '---:').join('|')}|`];
  // The media rows only when a run had media (--media).
  const withMedia = runs.some((r) => r.result.mediaShare !== undefined);
  for (const row of ROWS.filter((r) => withMedia || !r.mediaOnly)) lines.push(`| ${row.label} | ${cols.map((c) => c.value(row)).join(' | ')} |`);
  lines.push('');
  for (const { result: r, details: d } of runs) {
    const statements = Object.entries(d.statements)
      .sort((a, b) => b[1].perMessage - a[1].perMessage)
      .map(([k, v]) => `${k} ${fmt(v.perMessage)} (${fmt(v.meanMs)} ms)`)
      .join(', ');
    lines.push(
      `- ${r.pipeline}${r.events ? ' with events' : ''}${r.processes > 1 ? ` ×${r.processes}` : ''}${r.pooler ? ' through PgBouncer' : ''}, model ${r.modelLatencyMs} ms: ${d.sent} messages sent, ${d.unanswered} unanswered at the end` +
        `${d.rejected ? `, ${d.rejected} refused` : ''}${d.unmatched ? `, ${d.unmatched} unmatched sends` : ''}, ${d.statusesPosted} status webhooks posted back` +
        `${d.rssMbAtStart !== null ? `; RSS ${fmt(d.rssMbAtStart)} MB after warm-up, ${fmt(d.rssMbAtEnd)} MB at the end` : ''}` +
        `${d.cpuMsPerMessage !== null ? `; its CPU per answered message ${fmt(d.cpuMsPerMessage)} ms (the load's own process: ${fmt(d.loadCpuMsPerMessage)} ms${d.postgresCpuMsPerMessage !== null ? `, PostgreSQL: ${fmt(d.postgresCpuMsPerMessage)} ms` : ''}${d.poolerCpuMsPerMessage != null ? `, PgBouncer: ${fmt(d.poolerCpuMsPerMessage)} ms` : ''})` : ''}` +
        `${d.eventLoopLagP99Ms !== null ? `; event-loop delay p99 ${fmt(d.eventLoopLagP99Ms)} ms` : ''}` +
        `; acknowledgements as the server timed them (statuses included): p50 ${fmt(d.serverAckMs.p50)} ms, p99 ${fmt(d.serverAckMs.p99)} ms` +
        `${d.turnMeansMs.total !== null ? `; mean turn ${fmt(d.turnMeansMs.total)} ms = queue ${fmt(d.turnMeansMs.queue)} + agent ${fmt(d.turnMeansMs.agent)} + send ${fmt(d.turnMeansMs.send)} + the rest` : ''}` +
        `${d.eventsPerMessage !== undefined ? `; ${fmt(d.eventsPerMessage)} events delivered per answered message` : ''}` +
        `${statements ? `; round trips per answered message by statement (mean time): ${statements}` : ''}.`,
    );
  }
  for (const lat of latencies) {
    const all = runs.filter((r) => r.result.modelLatencyMs === lat && r.result.pipeline === 'wagate').map((r) => r.result);
    for (const withEvents of all.filter((r) => r.events)) {
      const without = all.find((r) => !r.events && !r.pooler && r.processes === withEvents.processes);
      if (without) lines.push(`- model ${lat} ms${withEvents.processes > 1 ? `, ${withEvents.processes} processes` : ''}: with one event receiver subscribed to every event, ${gain(withEvents.messagesPerSecond, without.messagesPerSecond, 'higher')} the messages per second of the run without.`);
    }
    const ws = all.filter((r) => !r.events);
    const one = ws.find((r) => r.processes === 1 && !r.pooler);
    for (const many of ws.filter((r) => r.processes > 1 && !r.pooler)) {
      if (one) lines.push(`- model ${lat} ms: ${many.processes} processes answer ${gain(many.messagesPerSecond, one.messagesPerSecond, 'higher')} the messages per second of one.`);
    }
    for (const pooled of ws.filter((r) => r.pooler)) {
      const direct = ws.find((r) => !r.pooler && r.processes === pooled.processes);
      if (!direct) continue;
      const pct = direct.messagesPerSecond > 0 ? Math.round((pooled.messagesPerSecond / direct.messagesPerSecond - 1) * 100) : null;
      lines.push(
        `- model ${lat} ms${pooled.processes > 1 ? `, ${pooled.processes} processes` : ''}: through PgBouncer, ${fmt(pooled.messagesPerSecond)} messages answered per second against ${fmt(direct.messagesPerSecond)} direct` +
          `${pct !== null ? ` (${pct >= 0 ? '+' : ''}${pct} %)` : ''}; gateway overhead p50 ${fmt(pooled.overheadMs.p50)} ms against ${fmt(direct.overheadMs.p50)}, p99 ${fmt(pooled.overheadMs.p99)} ms against ${fmt(direct.overheadMs.p99)}.`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

/** The JSON document written by `--json FILE`. */
export function jsonReport(runs: { result: RunResult; details?: Pick<RunDetails, 'samples'> }[]): BenchReport {
  // Soak samples, when taken, travel with their run.
  return { runs: runs.map((r) => (r.details?.samples.length ? { ...r.result, samples: r.details.samples } : r.result)) };
}
