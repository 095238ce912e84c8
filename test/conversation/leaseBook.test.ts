import { describe, expect, it } from 'vitest';
import { LeaseBook } from '../../src/conversation/leaseBook.ts';

describe('LeaseBook', () => {
  it('lets a take heard with a newer seq outrank a release heard later with an older one', () => {
    const book = new LeaseBook();
    book.heardTake(4);
    book.heardRelease(3);
    expect(book.held).toBe(true);
    book.heardRelease(4);
    expect(book.held).toBe(false);
    book.heardTake(5);
    expect(book.held).toBe(true);
  });

  it('knows all the work after a contiguous advance and sees a gap after a skipped bump', () => {
    const book = new LeaseBook();
    book.advancedBy(1, true);
    book.advancedBy(2, false);
    expect([book.knownSeq, book.seenSeq, book.hasGap]).toEqual([2, 2, false]);
    // Bump 3 was made elsewhere: 4 cannot be known yet.
    book.advancedBy(4, false);
    expect([book.knownSeq, book.seenSeq, book.hasGap]).toEqual([2, 4, true]);
    book.knowsUpTo(4);
    expect(book.hasGap).toBe(false);
  });

  it('starts a new state from the bump that created it', () => {
    const book = new LeaseBook();
    book.advancedBy(7, true);
    expect([book.knownSeq, book.seenSeq, book.hasGap]).toEqual([7, 7, false]);
  });

  it('never moves back on an older seq', () => {
    const book = new LeaseBook();
    book.advancedBy(5, true);
    book.sawSeq(3);
    book.knowsUpTo(2);
    expect([book.knownSeq, book.seenSeq]).toEqual([5, 5]);
  });

  it('sees a gap when work is heard of, and none once caught up', () => {
    const book = new LeaseBook();
    book.advancedBy(2, true);
    book.heardOfWork();
    expect([book.seenSeq, book.hasGap]).toEqual([3, true]);
    book.caughtUp();
    expect(book.hasGap).toBe(false);
    book.releaseRefused(2);
    expect([book.seenSeq, book.hasGap]).toEqual([3, true]);
  });

  it('changes the epoch at every take or release, so a renewal asked before one is stale', () => {
    const book = new LeaseBook();
    book.heardTake(1);
    const asked = book.epoch;
    expect(book.heldSince(asked)).toBe(true);
    book.heardRelease(1);
    book.heardTake(2);
    expect(book.held).toBe(true);
    expect(book.heldSince(asked)).toBe(false);
    const again = book.epoch;
    book.tookNow();
    expect(book.heldSince(again)).toBe(false);
    expect(book.heldSince(book.epoch)).toBe(true);
  });

  it('keeps the epoch when an older statement is heard after a newer one', () => {
    const book = new LeaseBook();
    book.heardTake(3);
    const asked = book.epoch;
    book.heardRelease(2);
    expect(book.heldSince(asked)).toBe(true);
  });

  it('is not held after a release, whatever the epoch', () => {
    const book = new LeaseBook();
    book.heardRelease(1);
    expect(book.heldSince(book.epoch)).toBe(false);
  });

  it('takes the lease at once after a sweep, even over a release heard with a newer seq', () => {
    const book = new LeaseBook();
    book.heardRelease(9);
    book.tookNow();
    expect(book.held).toBe(true);
  });

  it('remembers a loss and a retake', () => {
    const book = new LeaseBook();
    expect([book.lost, book.retake]).toEqual([false, false]);
    book.markLost();
    book.markRetake();
    expect([book.lost, book.retake]).toEqual([true, true]);
  });
});
