import { describe, expect, it } from 'vitest';
import { ConversationState } from '../../src/conversation/state.ts';

const fresh = () => new ConversationState('1', 't', 'c', { waId: null, userId: null, name: null }, 0);

describe('ConversationState: the answer budget window', () => {
  it('no wait below the budget; at the budget, until the oldest counted answer leaves the window', () => {
    const s = fresh();
    const budget = { answers: 3, perSeconds: 10 };
    expect(s.budgetWaitMs(budget, 100_000)).toBe(0);
    s.noteAnswers([91_000, 95_000]);
    expect(s.budgetWaitMs(budget, 100_000)).toBe(0);
    s.noteAnswers([99_000]);
    expect(s.budgetWaitMs(budget, 100_000)).toBe(1_000);
    // Once 91,000 is 10 s old, it no longer counts.
    expect(s.budgetWaitMs(budget, 101_000)).toBe(0);
  });

  it('a lowered budget counts the newest answers: the wait is until the oldest of those leaves', () => {
    const s = fresh();
    s.noteAnswers([91_000, 95_000, 99_000]);
    expect(s.budgetWaitMs({ answers: 1, perSeconds: 10 }, 100_000)).toBe(9_000);
    expect(s.budgetWaitMs({ answers: 2, perSeconds: 10 }, 100_000)).toBe(5_000);
    expect(s.budgetWaitMs({ answers: 4, perSeconds: 10 }, 100_000)).toBe(0);
  });

  it('answer times from statements applied out of order are merged, not replaced', () => {
    const s = fresh();
    s.noteAnswers([95_000, 99_000]);
    // An older snapshot (an ingest answer that arrived late) takes nothing away.
    s.noteAnswers([95_000]);
    expect(s.answeredAt).toEqual([95_000, 99_000]);
    s.noteAnswers([91_000, 99_000]);
    expect(s.answeredAt).toEqual([91_000, 95_000, 99_000]);
  });
});
