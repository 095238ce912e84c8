import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { areaOf, profileMarkdown, summariseProfile } from '../../bench/cpuProfile.ts';
import { gain, jsonReport, markdown } from '../../bench/report.ts';
import type { RunDetails, RunResult } from '../../bench/run.ts';

function run(pipeline: 'wagate' | 'baseline', modelLatencyMs: number, over: Partial<RunResult> = {}): { result: RunResult; details: RunDetails } {
  return {
    result: {
      pipeline,
      modelLatencyMs,
      processes: 1,
      messages: 1000,
      messagesPerSecond: pipeline === 'wagate' ? 1000 : 20,
      ackMs: { p50: 1, p99: 4 },
      overheadMs: { p50: pipeline === 'wagate' ? 1 : 60, p99: pipeline === 'wagate' ? 5 : 300 },
      endToEndMs: { p50: 3, p99: 9 },
      dbRoundTripsPerMessage: pipeline === 'wagate' ? 6 : 8,
      connectionsOpenedPerMessage: pipeline === 'wagate' ? 0 : 8,
      peakRssMb: 150,
      ...over,
    },
    details: { sent: 1010, unanswered: 0, rejected: 0, unmatched: 0, statusesPosted: 3000, statements: { ingest_notification: { perMessage: 4, meanMs: 0.4 } }, rssMbAtStart: 120, rssMbAtEnd: 121, serverAckMs: { p50: 0.5, p99: 2 }, cpuMsPerMessage: 0.8, loadCpuMsPerMessage: 0.5, postgresCpuMsPerMessage: 0.9, eventLoopLagP99Ms: 12, turnMeansMs: { queue: 0.1, agent: 1, send: 1, total: 3 }, samples: [] },
  };
}

describe('the benchmark report', () => {
  it('says how many times better wagate is, whichever way is better', () => {
    expect(gain(1000, 20, 'higher')).toBe('50.0×');
    expect(gain(1, 60, 'lower')).toBe('60.0×');
    expect(gain(0, 8, 'lower')).toBe('∞');
    expect(gain(0, 0, 'lower')).toBe('1×');
    expect(gain(null, 8, 'lower')).toBe('–');
    expect(gain(300, 1, 'lower')).toBe('0.00×');
  });

  it('prints one table with wagate beside the baseline per model latency', () => {
    const md = markdown([run('wagate', 0), run('baseline', 0), run('wagate', 1000), run('wagate', 1000, { processes: 2, messagesPerSecond: 1500 }), run('baseline', 1000)]);
    const [header] = md.split('\n');
    expect(header).toBe('| | wagate, model 0 ms | gain | baseline, model 0 ms | wagate, model 1000 ms | gain | wagate ×2 processes, model 1000 ms | gain | baseline, model 1000 ms |');
    expect(md).toContain('| messages answered per second | 1000 | 50.0× | 20.0 | 1000 | 50.0× | 1500 | 75.0× | 20.0 |');
    expect(md).toContain('| new connections per answered message | 0 | ∞ | 8.00 |');
    expect(md).toContain('model 1000 ms: 2 processes answer 1.50× the messages per second of one.');
    expect(md).toContain('round trips per answered message by statement (mean time): ingest_notification 4.00 (0.40 ms)');
  });

  it('puts a run through PgBouncer beside the direct one, with its cost in a line', () => {
    const pooled = run('wagate', 0, { pooler: 'pgbouncer', messagesPerSecond: 900, overheadMs: { p50: 2, p99: 7 } });
    pooled.details.poolerCpuMsPerMessage = 0.25;
    const md = markdown([run('wagate', 0), pooled]);
    expect(md.split('\n')[0]).toBe('| | wagate, model 0 ms | wagate through PgBouncer, model 0 ms |');
    expect(md).toContain('| messages answered per second | 1000 | 900 |');
    expect(md).toContain('- wagate through PgBouncer, model 0 ms: 1010 messages sent');
    expect(md).toContain('PgBouncer: 0.25 ms');
    expect(md).toContain('- model 0 ms: through PgBouncer, 900 messages answered per second against 1000 direct (-10 %); gateway overhead p50 2.00 ms against 1.00, p99 7.00 ms against 5.00.');
    expect(jsonReport([pooled]).runs[0]).toMatchObject({ pipeline: 'wagate', pooler: 'pgbouncer' });
  });

  it('puts a run with an event receiver beside the run without, and says how their answer rates compare', () => {
    const withEvents = run('wagate', 0, { events: true, messagesPerSecond: 950 });
    withEvents.details.eventsPerMessage = 5.5;
    const md = markdown([run('wagate', 0), withEvents, run('baseline', 0)]);
    expect(md.split('\n')[0]).toBe('| | wagate, model 0 ms | gain | wagate with events, model 0 ms | gain | baseline, model 0 ms |');
    expect(md).toContain('- model 0 ms: with one event receiver subscribed to every event, 0.95× the messages per second of the run without.');
    expect(md).toContain('- wagate with events, model 0 ms: 1010 messages sent');
    expect(md).toContain('; 5.50 events delivered per answered message;');
    expect(jsonReport([withEvents]).runs[0]).toMatchObject({ events: true });
  });

  it('writes exactly the JSON shape of the specification', () => {
    const j = jsonReport([run('wagate', 0), run('baseline', 0)]);
    expect(Object.keys(j)).toEqual(['runs']);
    expect(Object.keys(j.runs[0]).sort()).toEqual(
      ['pipeline', 'modelLatencyMs', 'processes', 'messages', 'messagesPerSecond', 'ackMs', 'overheadMs', 'endToEndMs', 'dbRoundTripsPerMessage', 'connectionsOpenedPerMessage', 'peakRssMb'].sort(),
    );
    expect(j.runs[1]).toMatchObject({ pipeline: 'baseline', modelLatencyMs: 0, processes: 1, ackMs: { p50: 1, p99: 4 } });
  });
});

describe('the CPU profile summary', () => {
  it('sorts code into areas by where it lives', () => {
    expect(areaOf('file:///x/node_modules/pg-protocol/dist/parser.js', 'parse')).toBe('pg (PostgreSQL driver)');
    expect(areaOf('file:///x/node_modules/fastify/lib/route.js', 'r')).toBe('fastify (HTTP server)');
    expect(areaOf('file:///x/src/ingest/ingest.ts', 'ingest')).toBe('wagate src/ingest/');
    expect(areaOf('node:internal/http', 'x')).toMatch(/^Node\.js core/);
    expect(areaOf('', '(garbage collector)')).toBe('garbage collection');
    expect(areaOf('', '(idle)')).toBe('idle');
    expect(areaOf('file:///x/node_modules/left-pad/index.js', 'f')).toBe('left-pad');
  });

  it('sums self time per area and function, leaving idle time out of the shares', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'wagate-prof-'));
    const file = path.join(dir, 'p.cpuprofile');
    const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 9, columnNumber: 0, scriptId: '1' });
    await writeFile(
      file,
      JSON.stringify({
        nodes: [
          { id: 1, callFrame: frame('(root)', ''), children: [2, 3, 4] },
          { id: 2, callFrame: frame('(idle)', '') },
          { id: 3, callFrame: frame('ingest', 'file:///x/src/ingest/ingest.ts') },
          { id: 4, callFrame: frame('parse', 'file:///x/node_modules/pg-protocol/dist/parser.js') },
        ],
        startTime: 0,
        endTime: 10_000,
        samples: [2, 3, 3, 3, 4, 2],
        timeDeltas: [5_000, 1_000, 1_000, 1_000, 1_000, 1_000],
      }),
    );
    const s = await summariseProfile(file);
    expect(s.totalMs).toBe(10);
    expect(s.idleMs).toBe(6);
    expect(s.areas).toEqual([
      { area: 'wagate src/ingest/', ms: 3, share: 0.75 },
      { area: 'pg (PostgreSQL driver)', ms: 1, share: 0.25 },
    ]);
    expect(s.functions[0]).toMatchObject({ name: 'ingest', where: 'src/ingest/ingest.ts:10', share: 0.75 });
    expect(profileMarkdown('p.cpuprofile', s)).toContain('| wagate src/ingest/ | 75.0% |');
  });
});
