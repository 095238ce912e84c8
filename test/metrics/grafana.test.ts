import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startTestGateway, type TestGateway } from '../support/gateway.ts';

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
}

describe('docs/grafana/wagate.json', () => {
  let gw: TestGateway;
  let dashboard: { panels: Panel[]; templating: { list: { query: string | object }[] } };
  let exposed: Map<string, string>;
  beforeAll(async () => {
    dashboard = JSON.parse(await readFile(new URL('../../docs/grafana/wagate.json', import.meta.url), 'utf8'));
    gw = await startTestGateway();
    const res = await api(gw, 'GET', '/metrics');
    expect(res.status).toBe(200);
    // Every series the gateway registers, with its type, from the # TYPE lines (present even before a first sample).
    exposed = new Map([...String(res.body).matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
  });
  afterAll(async () => {
    await gw?.stop();
  });

  /** The series an expression reads (a histogram's _bucket, _sum and _count name the histogram). */
  function seriesOf(expr: string): string[] {
    return [...expr.matchAll(/\b((?:wagate|process|nodejs)_[a-z0-9_]+)\b/g)].map(([, name]) => {
      const base = name.replace(/_(bucket|sum|count)$/, '');
      return exposed.get(base) === 'histogram' ? base : name;
    });
  }

  it('queries only series the gateway exposes, histograms through their buckets', () => {
    const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    expect(queries.length).toBeGreaterThan(20);
    for (const q of [...queries, ...dashboard.templating.list.filter((v) => typeof v.query === 'string').map((v) => ({ panel: 'variable', expr: v.query as string }))]) {
      for (const name of seriesOf(q.expr)) expect(exposed.has(name), `${q.panel}: ${name} in ${q.expr}`).toBe(true);
      for (const m of q.expr.matchAll(/histogram_quantile\([^,]+, sum by \(([^)]*)\) \(rate\((\w+)\{/g)) {
        expect(m[1].split(',').map((s) => s.trim()), q.expr).toContain('le');
        expect(m[2], q.expr).toMatch(/_bucket$/);
      }
    }
  });

  it('covers turns, overhead, webhooks, sends, the pool and the build', () => {
    const all = JSON.stringify(dashboard.panels);
    for (const name of ['wagate_turn_seconds_bucket', 'wagate_turn_overhead_seconds_bucket', 'wagate_webhook_ack_seconds_bucket', 'wagate_sends_waiting', 'wagate_db_pool_connections', 'wagate_build_info', 'wagate_message_dispositions_total']) {
      expect(all).toContain(name);
    }
    expect(all).not.toContain('wagate_db_pool_total');
  });
});
