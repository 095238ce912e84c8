import { readFile } from 'node:fs/promises';

/** The parts of a V8 `.cpuprofile` (as `node --cpu-prof` writes it) that the summary reads. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a process's CPU time went: by area of code and by function, self time only. */
export interface ProfileSummary {
  /** Sampled wall time, ms. */
  totalMs: number;
  /** Time the process was idle (waiting for I/O), ms. */
  idleMs: number;
  areas: { area: string; ms: number; share: number }[];
  functions: { name: string; where: string; ms: number; share: number }[];
}

const AREAS: [RegExp, string][] = [
  [/\/node_modules\/(pg|pg-protocol|pg-pool|pg-types|pgpass|postgres-[a-z]+)\//, 'pg (PostgreSQL driver)'],
  [/\/node_modules\/(fastify|find-my-way|avvio|@fastify\/[^/]+|light-my-request|fast-json-stringify|fast-querystring|secure-json-parse)\//, 'fastify (HTTP server)'],
  [/\/node_modules\/undici\//, 'undici (HTTP client)'],
  [/\/node_modules\/(pino|pino-std-serializers|sonic-boom|thread-stream)\//, 'pino (logging)'],
  [/\/node_modules\/prom-client\//, 'prom-client (metrics)'],
  [/\/node_modules\/(tsx|esbuild|get-tsconfig)\//, 'tsx (TypeScript loader)'],
  [/\/node_modules\/zod\//, 'zod (validation)'],
];

/** The area a stack frame belongs to, from its script URL. */
export function areaOf(url: string, functionName: string): string {
  if (!url) {
    if (functionName === '(garbage collector)') return 'garbage collection';
    if (functionName === '(idle)') return 'idle';
    return 'V8 and native code';
  }
  if (url.startsWith('node:')) return 'Node.js core (http, net, streams, crypto…)';
  for (const [re, name] of AREAS) if (re.test(url)) return name;
  const src = /\/src\/([^/]+)\//.exec(url);
  if (src && !url.includes('/node_modules/')) return `wagate src/${src[1]}/`;
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  return pkg ? pkg[1] : 'other';
}

/** Reads a `.cpuprofile` and sums self time by area and by function. */
export async function summariseProfile(file: string, top = 12): Promise<ProfileSummary> {
  const p = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let totalUs = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = Math.max(0, p.timeDeltas[i] ?? 0);
    totalUs += dt;
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + dt);
  }
  let idleUs = 0;
  const areas = new Map<string, number>();
  const functions = new Map<string, { name: string; where: string; us: number }>();
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const area = areaOf(url, functionName);
    if (area === 'idle') {
      idleUs += us;
      continue;
    }
    areas.set(area, (areas.get(area) ?? 0) + us);
    const where = url ? `${url.replace(/^file:\/\/.*?\/(node_modules|src|bench|bin)\//, '$1/')}:${lineNumber + 1}` : '';
    const key = `${functionName}@${where}`;
    const f = functions.get(key) ?? { name: functionName || '(anonymous)', where, us: 0 };
    f.us += us;
    functions.set(key, f);
  }
  const busyUs = totalUs - idleUs || 1;
  return {
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    areas: [...areas.entries()].sort((a, b) => b[1] - a[1]).map(([area, us]) => ({ area, ms: us / 1000, share: us / busyUs })),
    functions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, ms: f.us / 1000, share: f.us / busyUs })),
  };
}

/** The summary as markdown: busy share, then the areas and the top functions. */
export function profileMarkdown(file: string, s: ProfileSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const busy = s.totalMs - s.idleMs;
  const lines = [
    `CPU profile ${file}: ${(s.totalMs / 1000).toFixed(1)} s sampled, busy ${(busy / 1000).toFixed(1)} s (${pct(busy / (s.totalMs || 1))}); shares of busy time, self time:`,
    '',
    '| area | share |',
    '|---|---:|',
    ...s.areas.filter((a) => a.share >= 0.005).map((a) => `| ${a.area} | ${pct(a.share)} |`),
    '',
    '| function | where | share |',
    '|---|---|---:|',
    ...s.functions.map((f) => `| ${f.name} | ${f.where} | ${pct(f.share)} |`),
  ];
  const writes = s.functions.find((f) => f.name === 'writev' && !f.where);
  if (writes && writes.share > 0.1) {
    lines.push(
      '',
      `writev (socket writes: queries to PostgreSQL, HTTP requests and answers) is timed by the profiler's clock: when a write wakes the process at the other end on a busy machine, the time that process runs before this one is scheduled again is counted here too. The CPU time per answered message above is the figure to compare.`,
    );
  }
  return lines.join('\n') + '\n';
}
