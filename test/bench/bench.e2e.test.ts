import { Writable } from 'node:stream';
import { describe, expect, inject, it } from 'vitest';
import { bench } from '../../bench/main.ts';

function sink() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('wagate bench, end to end on a small load', () => {
  it('runs wagate and the baseline with the same fakes and load, and counts what each costs', async () => {
    const out = sink();
    const progress = sink();
    const report = await bench(
      ['--conversations', '6', '--tenants', '2', '--model-latency-ms', '0', '--warmup', '1', '--duration', '6', '--drain', '60', '--database-url', inject('pgServerUrl')],
      { out: out.stream, progress: progress.stream },
    );
    expect(report).not.toBeNull();
    const [wagate, baseline] = report!.runs;
    expect(wagate).toMatchObject({ pipeline: 'wagate', modelLatencyMs: 0, processes: 1 });
    expect(baseline).toMatchObject({ pipeline: 'baseline', modelLatencyMs: 0, processes: 1 });
    for (const r of [wagate, baseline]) {
      expect(r.messages).toBeGreaterThan(0);
      expect(r.messagesPerSecond).toBeGreaterThan(0);
      expect(r.ackMs.p50).toBeGreaterThan(0);
      expect(r.endToEndMs.p99).toBeGreaterThanOrEqual(r.endToEndMs.p50!);
      expect(r.overheadMs.p50).not.toBeNull();
      expect(r.peakRssMb).toBeGreaterThan(0);
    }
    // The old way opens a connection for each of its 8 operations; wagate's pool opens
    // none once warm. The measuring window starts and ends with no message in flight,
    // so every counted statement belongs to a counted answer: exactly 8, however busy the machine.
    expect(baseline.connectionsOpenedPerMessage).toBe(8);
    expect(baseline.dbRoundTripsPerMessage).toBe(8);
    expect(wagate.connectionsOpenedPerMessage).toBeLessThan(0.5);
    // wagate's statements include the three status webhooks each answer brings back.
    // 3 per answered message plus the status webhooks, fewer when statements are merged under load.
    expect(wagate.dbRoundTripsPerMessage).toBeGreaterThan(0);
    expect(wagate.dbRoundTripsPerMessage).toBeLessThan(baseline.dbRoundTripsPerMessage!);
    expect(out.text()).toContain('| messages answered per second |');
    expect(out.text()).toMatch(/ingest_notification/);
    expect(progress.text()).toContain('done: wagate, model 0 ms');
  }, 180_000);
});
