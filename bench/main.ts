import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/db/embedded.ts';
import { postmasterPid } from './children.ts';
import { DebianCluster, debianPostgresBin } from './debianPostgres.ts';
import { PgBouncer, pgbouncerBin } from './pgbouncer.ts';
import { profileMarkdown, summariseProfile } from './cpuProfile.ts';
import { BenchOptionsError, parseBenchOptions, USAGE } from './options.ts';
import { jsonReport, markdown, type BenchReport } from './report.ts';
import { driftMarkdown, plotSamples } from './soak.ts';
import { runOnce, type RunDetails, type RunResult, type RunSpec } from './run.ts';

/** Where the benchmark writes: the table to `out`, progress to `progress`. */
export interface BenchIo {
  out: NodeJS.WritableStream;
  progress: NodeJS.WritableStream & { isTTY?: boolean };
}

/**
 * The benchmark (docs/performance.md): for each model latency, wagate (with each
 * process count asked for) then the old pipeline, each on a fresh database
 * with the same fakes and the same load; prints one markdown table and
 * returns (and with --json writes) the results. Throws BenchOptionsError on a
 * bad option.
 */
export async function bench(args: string[], io: BenchIo = { out: process.stdout, progress: process.stderr }): Promise<BenchReport | null> {
  const o = parseBenchOptions(args);
  if (o.help) {
    io.out.write(USAGE + '\n');
    return null;
  }
  const bouncerBin = o.pgbouncer ? pgbouncerBin() : null;
  if (o.pgbouncer && !bouncerBin) throw new BenchOptionsError("--pgbouncer: needs Debian's PgBouncer (apt-get install pgbouncer)");
  const clusterBin = o.pgbouncer && !o.databaseUrl ? debianPostgresBin() : null;
  if (o.pgbouncer && !o.databaseUrl && !clusterBin) throw new BenchOptionsError("--pgbouncer: needs --database-url or Debian's PostgreSQL server (apt-get install postgresql)");
  const say = progressWriter(io.progress);
  let pgDir: string | null = null;
  let embedded: EmbeddedServer | null = null;
  let cluster: DebianCluster | null = null;
  let bouncer: PgBouncer | null = null;
  const stopServers = async () => {
    await bouncer?.stop().catch(() => {});
    await cluster?.destroy().catch(() => {});
    await embedded?.stop().catch(() => {});
  };
  const onSignal = () => {
    say.done();
    io.progress.write('benchmark interrupted: stopping\n');
    void stopServers().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  try {
    let serverUrl = o.databaseUrl;
    let postgresPid: number | null = null;
    if (!serverUrl && clusterBin) {
      // PgBouncer reaches a server by TCP with a password: Debian's cluster, for the direct rows too.
      say.line("starting Debian's PostgreSQL");
      cluster = await DebianCluster.create(clusterBin);
      serverUrl = cluster.url;
      postgresPid = await postmasterPid(cluster.dataDir);
    }
    if (bouncerBin && serverUrl) {
      say.line('starting PgBouncer (transaction mode)');
      // As many server connections per run database as one process's pool: the rows differ by the pooler alone.
      bouncer = await PgBouncer.start(bouncerBin, serverUrl, { poolSize: o.dbPoolMax ?? 10, allDatabases: true });
    }
    if (!serverUrl) {
      say.line('starting embedded PostgreSQL');
      pgDir = await mkdtemp(path.join(tmpdir(), 'wagate-bench-pg-'));
      embedded = await startEmbeddedPostgres(pgDir, { createDatabases: true });
      serverUrl = embedded.url;
      postgresPid = await postmasterPid(path.join(pgDir, 'postgres'));
    }
    if (o.cpuProfile) await mkdir(o.cpuProfile, { recursive: true });
    const runs: { result: RunResult; details: RunDetails }[] = [];
    const profiles: string[] = [];
    for (const modelLatencyMs of o.modelLatenciesMs) {
      const specs: RunSpec[] = o.processes.flatMap((processes) => {
        const direct: RunSpec = { ...common(o), pipeline: 'wagate', modelLatencyMs, processes, pooler: null };
        const runs: RunSpec[] = o.pgbouncer ? [direct, { ...direct, pooler: 'pgbouncer' as const }] : [direct];
        return o.events ? [...runs, { ...direct, events: true }] : runs;
      });
      if (o.baseline) specs.push({ ...common(o), pipeline: 'baseline', modelLatencyMs, processes: 1, cpuProfileDir: null, pooler: null });
      for (const spec of specs) {
        const seen = o.cpuProfile && spec.pipeline === 'wagate' ? new Set(await readdir(o.cpuProfile)) : null;
        const run = await runOnce({ serverUrl, postgresPid, progress: say.line, pgbouncer: bouncer }, spec);
        say.done();
        runs.push(run);
        io.progress.write(`done: ${spec.pipeline}${spec.events ? ' with events' : ''}${spec.processes > 1 ? ` ×${spec.processes}` : ''}${spec.pooler ? ' through PgBouncer' : ''}, model ${modelLatencyMs} ms: ${run.result.messagesPerSecond} messages/s\n`);
        if (seen && o.cpuProfile) {
          // Node names profiles CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is
          // the main thread, the others are the TypeScript loader's worker.
          for (const f of (await readdir(o.cpuProfile)).filter((f) => /\.0\.\d+\.cpuprofile$/.test(f) && !seen.has(f))) {
            const file = path.join(o.cpuProfile, f);
            profiles.push(`wagate, model ${modelLatencyMs} ms, ${spec.processes} process(es): ` + profileMarkdown(file, await summariseProfile(file)));
          }
        }
      }
    }
    const report = jsonReport(runs);
    io.out.write('\n' + markdown(runs));
    for (const p of profiles) io.out.write('\n' + p);
    const soaked = runs.filter((r) => r.details.samples.length > 0);
    for (const r of soaked) {
      // The first minutes are the process warming (JIT, pool, caches); a leak shows after them.
      io.out.write('\n' + driftMarkdown(r.details.samples, Math.min(300, Math.floor(o.durationS / 4))));
    }
    if (o.plot && soaked.length > 0) {
      await plotSamples(soaked[0].details.samples, o.plot);
      io.out.write(`\nPlot written to ${o.plot}\n`);
    }
    if (o.json) {
      await writeFile(o.json, JSON.stringify(report, null, 2) + '\n');
      io.out.write(`\nJSON written to ${o.json}\n`);
    }
    return report;
  } finally {
    process.off('SIGINT', onSignal);
    say.done();
    await stopServers();
    if (pgDir) await rm(pgDir, { recursive: true, force: true }).catch(() => {});
  }
}

function common(o: ReturnType<typeof parseBenchOptions>): Omit<RunSpec, 'pipeline' | 'modelLatencyMs' | 'processes' | 'pooler'> {
  return {
    tenants: o.tenants,
    conversations: o.conversations,
    mediaShare: o.media,
    messages: o.messages,
    warmupS: o.warmupS,
    durationS: o.durationS,
    drainS: o.drainS,
    dbPoolMax: o.dbPoolMax,
    cpuProfileDir: o.cpuProfile,
    sampleEveryS: o.sampleEveryS,
    events: false,
  };
}

/** One progress line, rewritten in place on a terminal; every fifth line otherwise. */
function progressWriter(stream: BenchIo['progress']) {
  let pending = false;
  let n = 0;
  return {
    line(text: string) {
      if (stream.isTTY) {
        stream.write(`\r\x1b[K${text}`);
        pending = true;
      } else if (n++ % 5 === 0) {
        stream.write(text + '\n');
      }
    },
    done() {
      if (pending) stream.write('\n');
      pending = false;
      n = 0;
    },
  };
}
