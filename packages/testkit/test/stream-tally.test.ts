import { describe, expect, it } from 'vitest';
import { tallyStream } from '../src/stream-tally.js';

describe('stream tally', () => {
  it('stream tally - a whole stream in order: nothing lost, duplicated or reordered', () => {
    expect(tallyStream(4, [0, 1, 2, 3])).toEqual({
      sent: 4,
      received: 4,
      lost: 0,
      lostAfterFirst: 0,
      duplicated: 0,
      reordered: 0,
      missing: [],
    });
  });

  it('stream tally - losses before the first message received are lost but not knowable; later ones are both', () => {
    const t = tallyStream(8, [2, 3, 5, 7]);
    expect(t).toMatchObject({
      lost: 4,
      lostAfterFirst: 2,
      missing: [
        [0, 1],
        [4, 4],
        [6, 6],
      ],
    });
  });

  it('stream tally - copies and steps back are counted', () => {
    expect(tallyStream(3, [0, 2, 1, 2])).toMatchObject({ lost: 0, duplicated: 1, reordered: 1 });
  });

  it('stream tally - nothing received: every message lost, none knowable', () => {
    expect(tallyStream(3, [])).toMatchObject({ lost: 3, lostAfterFirst: 0, missing: [[0, 2]] });
  });
});
