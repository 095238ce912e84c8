import { describe, expect, it } from 'vitest';
import { Batcher } from '../../src/shared/batcher.ts';

/** A batcher whose runs wait until released, recording each batch. */
function gated(maxInFlight: number | ((key: string) => number), maxBatch: number | ((key: string) => number), weight?: (n: number) => number) {
  const batches: { key: string; items: number[] }[] = [];
  const gates: (() => void)[] = [];
  const batcher = new Batcher<number, number>(
    async (items, key) => {
      batches.push({ key, items });
      await new Promise<void>((r) => gates.push(r));
      return items.map((value) => ({ status: 'fulfilled', value }));
    },
    maxInFlight,
    maxBatch,
    weight,
  );
  const releaseAll = async () => {
    while (gates.length > 0) {
      gates.splice(0).forEach((g) => g());
      await new Promise((r) => setImmediate(r));
    }
  };
  return { batcher, batches, releaseAll };
}

describe('Batcher', () => {
  it('runs the first item alone at once and the ones that waited together', async () => {
    const { batcher, batches, releaseAll } = gated(1, 100);
    const all = [1, 2, 3, 4].map((n) => batcher.submit(n));
    expect(batches).toEqual([{ key: '', items: [1] }]);
    await releaseAll();
    expect(await Promise.all(all)).toEqual([1, 2, 3, 4]);
    expect(batches).toEqual([
      { key: '', items: [1] },
      { key: '', items: [2, 3, 4] },
    ]);
  });

  it('caps a batch by weight, and sends an item heavier than the cap alone', async () => {
    const { batcher, batches, releaseAll } = gated(1, 10, (n) => n);
    const all = [1, 4, 4, 4, 25, 3].map((n) => batcher.submit(n));
    await releaseAll();
    await Promise.all(all);
    expect(batches.map((b) => b.items)).toEqual([[1], [4, 4], [4], [25], [3]]);
  });

  it('limits statements in flight and batch weight per key', async () => {
    const { batcher, batches, releaseAll } = gated(
      (key) => (key === 'shared' ? 3 : 1),
      (key) => (key === 'shared' ? 100 : 2),
    );
    const all = [
      ...[1, 2, 3, 4, 5].map((n) => batcher.submit(n, 'own')),
      ...[6, 7, 8].map((n) => batcher.submit(n, 'shared')),
    ];
    // One statement of the own key runs; the shared key is not held behind it.
    expect(batches).toEqual([
      { key: 'own', items: [1] },
      { key: 'shared', items: [6] },
      { key: 'shared', items: [7] },
      { key: 'shared', items: [8] },
    ]);
    await releaseAll();
    await Promise.all(all);
    expect(batches.filter((b) => b.key === 'own').map((b) => b.items)).toEqual([[1], [2, 3], [4, 5]]);
  });
});
