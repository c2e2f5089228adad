// Keyboard map of the review grid, as a pure function so it is tested without a DOM.
export type Move = 'left' | 'right' | 'up' | 'down' | 'pageUp' | 'pageDown' | 'home' | 'end';

export type Command =
  | { type: 'move'; move: Move; extend: boolean }
  | { type: 'accept' }
  | { type: 'keep' }
  | { type: 'ood' }
  | { type: 'restore' }
  | { type: 'override'; classIndex: number }
  | { type: 'picker' }
  | { type: 'toggleSelect' }
  | { type: 'selectAll' }
  | { type: 'clearSelection' }
  | { type: 'undo' }
  | { type: 'redo' }
  | { type: 'help' };

export interface KeyLike {
  key: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  shiftKey?: boolean;
  altKey?: boolean;
}

const moves: Record<string, Move> = {
  ArrowLeft: 'left',
  ArrowRight: 'right',
  ArrowUp: 'up',
  ArrowDown: 'down',
  PageUp: 'pageUp',
  PageDown: 'pageDown',
  Home: 'home',
  End: 'end',
};

export function commandFor(e: KeyLike): Command | null {
  const mod = !!(e.ctrlKey || e.metaKey);
  if (e.altKey) return null;
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  if (mod) {
    if (key === 'z') return e.shiftKey ? { type: 'redo' } : { type: 'undo' };
    if (key === 'y') return { type: 'redo' };
    if (key === 'a') return { type: 'selectAll' };
    return null;
  }
  const move = moves[e.key];
  if (move) return { type: 'move', move, extend: !!e.shiftKey };
  if (e.key === '?') return { type: 'help' };
  if (e.key === 'Enter' || key === 'a') return { type: 'accept' };
  if (key === 'k') return { type: 'keep' };
  if (key === 'x') return { type: 'ood' };
  if (key === 'r') return { type: 'restore' };
  if (key === 'o' || e.key === '/') return { type: 'picker' };
  if (e.key === ' ') return { type: 'toggleSelect' };
  if (e.key === 'Escape') return { type: 'clearSelection' };
  if (/^[0-9]$/.test(e.key)) return { type: 'override', classIndex: e.key === '0' ? 9 : Number(e.key) - 1 };
  return null;
}

/** The number key that sets class `k` (0-based): 1 … 9, then 0 for the tenth; null beyond. */
export function classKey(k: number): string | null {
  return k >= 0 && k < 9 ? String(k + 1) : k === 9 ? '0' : null;
}

/** Where focus lands after a move in a grid of `cols` columns and `total` items. */
export function moveIndex(from: number, move: Move, cols: number, total: number, pageRows: number): number {
  if (total <= 0) return 0;
  const c = Math.max(1, cols);
  const to = {
    left: from - 1,
    right: from + 1,
    up: from - c,
    down: from + c,
    pageUp: from - c * Math.max(1, pageRows),
    pageDown: from + c * Math.max(1, pageRows),
    home: 0,
    end: total - 1,
  }[move];
  if (move === 'down' && to >= total) return Math.floor(from / c) === Math.floor((total - 1) / c) ? from : total - 1;
  return Math.min(total - 1, Math.max(0, to));
}

/** Help overlay rows; the same table the key map implements. */
export const keyHelp: [string, string][] = [
  ['← ↑ → ↓, PgUp/PgDn, Home/End', 'move focus'],
  ['Shift + arrows / Shift + click', 'extend the selection'],
  ['Space', 'toggle selection of the focused image'],
  ['Ctrl + A', 'select everything the filter shows'],
  ['Esc', 'clear the selection, then a selection filter from Insights'],
  ['Enter or A', 'accept the suggestion'],
  ['K', 'keep the given label'],
  ['1 … 9, 0 (zero)', 'override to class 1 … 10 (listed below)'],
  ['O (letter) or /', 'pick a class by typing'],
  ['X', 'mark out-of-distribution'],
  ['R', 'restore (forget the decision)'],
  ['Ctrl + Z / Ctrl + Shift + Z', 'undo / redo'],
  ['?', 'this help'],
];
