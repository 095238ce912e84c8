import { describe, expect, it } from 'vitest';
import { BenchOptionsError, parseBenchOptions } from '../../bench/options.ts';

describe('wagate bench options', () => {
  it('has defaults that run both pipelines at model latency 0 and 1,000 ms', () => {
    expect(parseBenchOptions([])).toMatchObject({
      conversations: 200,
      tenants: 20,
      messages: 0,
      modelLatenciesMs: [0, 1000],
      processes: [1],
      durationS: 20,
      baseline: true,
      json: null,
      cpuProfile: null,
      databaseUrl: null,
      pgbouncer: false,
      dbPoolMax: null,
      media: 0,
    });
  });

  it('takes --pgbouncer (each wagate run again through PgBouncer)', () => {
    expect(parseBenchOptions(['--pgbouncer', '--database-url', 'postgres://u:p@127.0.0.1:5432/x'])).toMatchObject({ pgbouncer: true, databaseUrl: 'postgres://u:p@127.0.0.1:5432/x' });
  });

  it('takes --events (each wagate run again with an event receiver)', () => {
    expect(parseBenchOptions(['--events'])).toMatchObject({ events: true });
    expect(parseBenchOptions([])).toMatchObject({ events: false });
  });

  it('takes a share of voice notes as a percentage', () => {
    expect(parseBenchOptions(['--media', '10%']).media).toBe(0.1);
    expect(parseBenchOptions(['--media', '25']).media).toBe(0.25);
    expect(() => parseBenchOptions(['--media', '80%'])).toThrow(/--media: must be a percentage from 0 to 50/);
    expect(() => parseBenchOptions(['--media', 'some'])).toThrow(BenchOptionsError);
  });

  it('takes lists, --no-baseline and a JSON file', () => {
    const o = parseBenchOptions(['--conversations', '2000', '--model-latency-ms', '1000', '--processes', '1,2', '--no-baseline', '--json', 'out.json', '--duration', '30', '--db-pool-max', '40']);
    expect(o).toMatchObject({ dbPoolMax: 40, conversations: 2000, modelLatenciesMs: [1000], processes: [1, 2], baseline: false, json: 'out.json', durationS: 30 });
  });

  it('names the option that is wrong', () => {
    const bad: [string[], RegExp][] = [
      [['--conversations', 'many'], /--conversations: must be a whole number/],
      [['--conversations', '0'], /--conversations: must be a whole number from 1/],
      [['--model-latency-ms', '0,-5'], /--model-latency-ms/],
      [['--processes', '99'], /--processes: must be a whole number from 1 to 16/],
      [['--database-url', 'mysql://x'], /--database-url: must be a postgres:\/\/ URL/],
      [['--tenants', '50', '--conversations', '10'], /--tenants \(50\) cannot exceed --conversations \(10\)/],
      [['--baseline', '--no-baseline'], /contradict/],
      [['--frobnicate'], /frobnicate/],
    ];
    for (const [args, message] of bad) {
      expect(() => parseBenchOptions(args)).toThrow(BenchOptionsError);
      expect(() => parseBenchOptions(args)).toThrow(message);
    }
  });
});
