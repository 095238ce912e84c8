import { parseArgs } from 'node:util';

/** The benchmark's settings, from its command line. */
export interface BenchOptions {
  conversations: number;
  tenants: number;
  messages: number;
  modelLatenciesMs: number[];
  processes: number[];
  durationS: number;
  warmupS: number;
  drainS: number;
  baseline: boolean;
  json: string | null;
  cpuProfile: string | null;
  databaseUrl: string | null;
  /** Run each wagate run a second time through PgBouncer in transaction mode. */
  pgbouncer: boolean;
  /** DB_POOL_MAX of each wagate process; null: the gateway's default. */
  dbPoolMax: number | null;
  /** Seconds between soak samples of the wagate processes; 0: none. */
  sampleEveryS: number;
  /** A PNG of the soak samples (needs --sample-every). */
  plot: string | null;
  /** Run each wagate run twice: without, then with one event receiver subscribed to every event of every tenant. */
  events: boolean;
  /** Share of messages that are voice notes (0–0.5; wagate runs only). */
  media: number;
  help: boolean;
}

export const USAGE = `Usage: wagate bench [options]   (or: npm run bench -- [options])

Drives wagate, then a re-creation of the old pipeline, with signed webhooks
from simulated customers (each waits for its answer before writing again)
against a fake Cloud API and a fake OpenAI-compatible model on loopback, and
prints one table of the results.

  --conversations N      simulated customers (default 200)
  --tenants N            tenants, each with its own channel (default 20)
  --messages N           messages per customer at most; 0: until --duration is up (default 0)
  --model-latency-ms L   the fake model's latency; a comma-separated list runs each (default 0,1000)
  --duration S           measured seconds per run (default 20)
  --warmup S             seconds of load before measuring starts (default 3)
  --drain S              longest wait for owed answers after the time is up (default 10)
  --processes N          wagate processes sharing the database; a list runs each (default 1)
  --baseline             run the old pipeline too (the default); --no-baseline skips it
  --json FILE            also write the results as JSON
  --cpu-profile DIR      write a CPU profile of each wagate process to DIR and summarise it
  --db-pool-max N        DB_POOL_MAX of each wagate process (default: the gateway's, 10)
  --sample-every S       every S seconds of the window, read each wagate process's
                         memory, event-loop delay, pool waits and answer rate (a soak);
                         the table and JSON then show how they drifted
  --plot FILE.png        draw those readings (needs --sample-every)
  --events               run each wagate run again with one event receiver (a local HTTP
                         server) subscribed to every event of every tenant, and compare
  --media P%             this share of the messages are voice notes (0–50 %, default 0),
                         transcribed by the fake model in 500 ms; wagate runs only
                         (the old pipeline has no media). The table then shows the
                         end-to-end time of text answers alone too
  --database-url URL     a PostgreSQL server to create the runs' databases on
                         (default: an embedded one in a temporary folder)
  --pgbouncer            run each wagate run a second time through Debian's
                         PgBouncer in transaction mode (DATABASE_PREPARED_STATEMENTS=false,
                         DATABASE_DIRECT_URL to the server), in front of --database-url
                         or, without it, of Debian's PostgreSQL in a temporary folder
                         (both rows on that server)
  --help                 this text`;

/** A bad option: the message names it and says what is wrong. */
export class BenchOptionsError extends Error {
  readonly code = 'invalid_option';
  constructor(message: string) {
    super(message);
    this.name = 'BenchOptionsError';
  }
}

function whole(name: string, v: string | undefined, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new BenchOptionsError(`--${name}: must be a whole number from ${min} to ${max} (got ${JSON.stringify(v)})`);
  return Number(v);
}

function list(name: string, v: string | undefined, fallback: number[], min: number, max: number): number[] {
  if (v === undefined) return fallback;
  const items = v.split(',').map((s) => whole(name, s.trim(), NaN, min, max));
  return [...new Set(items)];
}

/** `10%` or `10`: a share from 0 to 50 %. */
function share(name: string, v: string | undefined): number {
  if (v === undefined) return 0;
  const m = /^(\d{1,2}(?:\.\d+)?)%?$/.exec(v.trim());
  if (!m || Number(m[1]) > 50) throw new BenchOptionsError(`--${name}: must be a percentage from 0 to 50, e.g. 10% (got ${JSON.stringify(v)})`);
  return Number(m[1]) / 100;
}

/** Parses the command line; throws BenchOptionsError on anything it does not understand. */
export function parseBenchOptions(args: string[]): BenchOptions {
  // node:util's parseArgs has no negated booleans before Node 22: take --no-baseline here.
  let baseline = true;
  const rest = args.filter((a) => {
    if (a === '--no-baseline') {
      baseline = false;
      return false;
    }
    return true;
  });
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: rest,
      options: {
        conversations: { type: 'string' },
        tenants: { type: 'string' },
        messages: { type: 'string' },
        'model-latency-ms': { type: 'string' },
        processes: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        drain: { type: 'string' },
        baseline: { type: 'boolean' },
        json: { type: 'string' },
        'cpu-profile': { type: 'string' },
        'database-url': { type: 'string' },
        pgbouncer: { type: 'boolean' },
        'db-pool-max': { type: 'string' },
        'sample-every': { type: 'string' },
        plot: { type: 'string' },
        events: { type: 'boolean' },
        media: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new BenchOptionsError((err as Error).message);
  }
  if (values.baseline === true && !baseline) throw new BenchOptionsError('--baseline and --no-baseline contradict each other');
  const str = (k: string) => values[k] as string | undefined;
  const databaseUrl = str('database-url') ?? null;
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl)) throw new BenchOptionsError(`--database-url: must be a postgres:// URL (got ${JSON.stringify(databaseUrl)})`);
  for (const k of ['json', 'cpu-profile', 'plot']) if (str(k) === '') throw new BenchOptionsError(`--${k}: needs a path`);
  const o: BenchOptions = {
    conversations: whole('conversations', str('conversations'), 200, 1, 100_000),
    tenants: whole('tenants', str('tenants'), 20, 1, 1_000),
    messages: whole('messages', str('messages'), 0, 0, 1_000_000),
    modelLatenciesMs: list('model-latency-ms', str('model-latency-ms'), [0, 1000], 0, 600_000),
    processes: list('processes', str('processes'), [1], 1, 16),
    durationS: whole('duration', str('duration'), 20, 1, 3_600),
    warmupS: whole('warmup', str('warmup'), 3, 0, 600),
    drainS: whole('drain', str('drain'), 10, 0, 600),
    baseline,
    json: str('json') ?? null,
    cpuProfile: str('cpu-profile') ?? null,
    sampleEveryS: whole('sample-every', str('sample-every'), 0, 0, 3_600),
    plot: str('plot') ?? null,
    media: share('media', str('media')),
    databaseUrl,
    pgbouncer: values.pgbouncer === true,
    dbPoolMax: str('db-pool-max') === undefined ? null : whole('db-pool-max', str('db-pool-max'), 10, 1, 1000),
    events: values.events === true,
    help: values.help === true,
  };
  if (o.plot !== null && o.sampleEveryS === 0) throw new BenchOptionsError('--plot draws the soak samples: give --sample-every too');
  if (o.tenants > o.conversations) throw new BenchOptionsError(`--tenants (${o.tenants}) cannot exceed --conversations (${o.conversations}): each tenant needs a customer`);
  return o;
}
