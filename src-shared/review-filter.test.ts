import { describe, expect, it } from 'vitest';
import type { SampleFilter } from './contract';
import { reviewFilterMatcher, type FilterableRow, type FilterFields } from './review-filter';

// Five rows chosen so each part of the filter has rows on both sides of it; every expected id list
// below is written by hand from this table, not computed.
const rows: FilterableRow[] = [
  {
    id: 0,
    path: 'Cat/IMG_001.png',
    given: 'cat',
    suggested: 'cat',
    status: 'clean',
    confidence: 0.9,
    oodScore: 0.1,
    decision: null,
  },
  {
    id: 1,
    path: 'cat/img_002.png',
    given: 'cat',
    suggested: 'dog',
    status: 'relabeled',
    confidence: 0.4,
    oodScore: 0.3,
    decision: { kind: 'accept' },
  },
  {
    id: 2,
    path: 'dog/a.png',
    given: 'dog',
    suggested: null,
    status: 'ood',
    confidence: 0.2,
    oodScore: 0.95,
    decision: null,
  },
  {
    id: 3,
    path: 'dog/b.png',
    given: 'dog',
    suggested: 'dog',
    status: 'clean',
    confidence: 0.6,
    oodScore: 0.5,
    decision: { kind: 'accept' },
  },
  {
    id: 4,
    path: 'bird/nan.png',
    given: 'bird',
    suggested: 'bird',
    status: 'clean',
    confidence: NaN,
    oodScore: NaN,
    decision: null,
  },
];

const ids = (f: Partial<SampleFilter>): number[] => {
  const match = reviewFilterMatcher({ view: 'all', ...f });
  return rows.filter(match).map((r) => r.id);
};

describe('reviewFilterMatcher', () => {
  it.each([
    ['all', [0, 1, 2, 3, 4]],
    ['relabeled', [1]],
    ['ood', [2]],
    ['clean', [0, 3, 4]],
    ['suggestions', [1, 2]],
    ['unreviewed', [0, 2, 4]],
    ['reviewed', [1, 3]],
  ] as const)('view %s', (view, want) => {
    expect(ids({ view })).toEqual(want);
  });

  it('labels match exactly; an OOD row has no suggestion to match', () => {
    expect(ids({ given: 'dog' })).toEqual([2, 3]);
    expect(ids({ suggested: 'dog' })).toEqual([1, 3]);
    expect(ids({ given: 'Dog' })).toEqual([]);
    expect(ids({ given: '' })).toEqual([]);
  });

  it('bounds are inclusive and a NaN score is never filtered out by one', () => {
    expect(ids({ minConfidence: 0.4 })).toEqual([0, 1, 3, 4]);
    expect(ids({ maxConfidence: 0.4 })).toEqual([1, 2, 4]);
    expect(ids({ minConfidence: 0.3, maxConfidence: 0.7 })).toEqual([1, 3, 4]);
    expect(ids({ minOod: 0.5, maxOod: 0.95 })).toEqual([2, 3, 4]);
    expect(ids({ maxOod: 0 })).toEqual([4]);
  });

  it('search is a case-insensitive substring of the path; empty is no search', () => {
    expect(ids({ search: 'img_00' })).toEqual([0, 1]);
    expect(ids({ search: 'CAT/' })).toEqual([0, 1]);
    expect(ids({ search: '.png' })).toEqual([0, 1, 2, 3, 4]);
    expect(ids({ search: 'zebra' })).toEqual([]);
    expect(ids({ search: '' })).toEqual([0, 1, 2, 3, 4]);
  });

  it('an id list keeps only those rows (unknown ids are ignored), an empty one keeps none', () => {
    expect(ids({ ids: [3, 1, 99] })).toEqual([1, 3]);
    expect(ids({ ids: [] })).toEqual([]);
    expect(ids({ ids: [2 ** 30, 4, 0] })).toEqual([0, 4]); // far-out ids take the Set path
  });

  it('all parts hold at once', () => {
    expect(ids({ view: 'suggestions', given: 'cat', maxOod: 0.5, search: 'cat/' })).toEqual([1]);
    expect(ids({ view: 'reviewed', suggested: 'dog', minConfidence: 0.5 })).toEqual([3]);
  });

  it('a view outside the contract is an error, not "all"', () => {
    expect(() => reviewFilterMatcher({ view: 'everything' } as unknown as SampleFilter)).toThrow(/Unknown review view/);
  });

  it('reads rows of any shape through field readers, and only the fields the filter needs', () => {
    // Columns as the query engine keeps them; a row is an index.
    const col = {
      path: ['a/X.png', 'b/y.png', 'a/z.png'],
      status: ['clean', 'ood', 'relabeled'] as const,
      conf: [0.1, 0.5, 0.9],
    };
    const read = new Set<string>();
    const fields: FilterFields<number> = {
      id: (i) => (read.add('id'), i),
      lowerPath: (i) => (read.add('lowerPath'), col.path[i]!.toLowerCase()),
      given: (i) => (read.add('given'), col.path[i]!.slice(0, 1)),
      suggested: (i) => (read.add('suggested'), col.status[i] === 'ood' ? null : 'a'),
      status: (i) => (read.add('status'), col.status[i]!),
      confidence: (i) => (read.add('confidence'), col.conf[i]!),
      oodScore: (_i) => (read.add('oodScore'), 0),
      decided: (i) => (read.add('decided'), i === 2),
    };
    const pick = (f: Partial<SampleFilter>) => [0, 1, 2].filter(reviewFilterMatcher({ view: 'all', ...f }, fields));
    expect(pick({ view: 'suggestions' })).toEqual([1, 2]);
    expect([...read]).toEqual(['status']);
    expect(pick({ given: 'a', search: 'x' })).toEqual([0]);
    expect(pick({ minConfidence: 0.5, view: 'reviewed' })).toEqual([2]);
    expect(pick({ suggested: 'a', ids: [1, 2] })).toEqual([2]);
  });
});
