import { describe, expect, it } from 'vitest';
import { commandFor, keyHelp, moveIndex } from './keymap';

describe('commandFor', () => {
  it('maps the review keys', () => {
    expect(commandFor({ key: 'Enter' })).toEqual({ type: 'accept' });
    expect(commandFor({ key: 'a' })).toEqual({ type: 'accept' });
    expect(commandFor({ key: 'A', shiftKey: true })).toEqual({ type: 'accept' });
    expect(commandFor({ key: 'k' })).toEqual({ type: 'keep' });
    expect(commandFor({ key: 'x' })).toEqual({ type: 'ood' });
    expect(commandFor({ key: 'r' })).toEqual({ type: 'restore' });
    expect(commandFor({ key: '1' })).toEqual({ type: 'override', classIndex: 0 });
    expect(commandFor({ key: '9' })).toEqual({ type: 'override', classIndex: 8 });
    expect(commandFor({ key: '0' })).toEqual({ type: 'override', classIndex: 9 });
    expect(commandFor({ key: '/' })).toEqual({ type: 'picker' });
    expect(commandFor({ key: 'o' })).toEqual({ type: 'picker' });
    expect(commandFor({ key: ' ' })).toEqual({ type: 'toggleSelect' });
    expect(commandFor({ key: '?', shiftKey: true })).toEqual({ type: 'help' });
    expect(commandFor({ key: 'Escape' })).toEqual({ type: 'clearSelection' });
  });
  it('maps modifiers: undo, redo, select all', () => {
    expect(commandFor({ key: 'z', ctrlKey: true })).toEqual({ type: 'undo' });
    expect(commandFor({ key: 'Z', ctrlKey: true, shiftKey: true })).toEqual({ type: 'redo' });
    expect(commandFor({ key: 'z', metaKey: true, shiftKey: true })).toEqual({ type: 'redo' });
    expect(commandFor({ key: 'y', ctrlKey: true })).toEqual({ type: 'redo' });
    expect(commandFor({ key: 'a', ctrlKey: true })).toEqual({ type: 'selectAll' });
    expect(commandFor({ key: 'k', ctrlKey: true })).toBeNull();
    expect(commandFor({ key: 'a', altKey: true })).toBeNull();
  });
  it('arrows move, shift extends', () => {
    expect(commandFor({ key: 'ArrowDown' })).toEqual({ type: 'move', move: 'down', extend: false });
    expect(commandFor({ key: 'ArrowLeft', shiftKey: true })).toEqual({ type: 'move', move: 'left', extend: true });
  });
  it('unknown keys do nothing', () => {
    expect(commandFor({ key: 'q' })).toBeNull();
    expect(commandFor({ key: 'F5' })).toBeNull();
  });
  it('help lists every command key', () => {
    const text = keyHelp.map(([k]) => k).join(' ');
    for (const k of ['Enter', 'K', 'X', 'R', 'Space', 'Ctrl + A', 'Ctrl + Z', '?']) expect(text).toContain(k);
  });
});

describe('moveIndex', () => {
  it('moves in a grid and clamps at the edges', () => {
    expect(moveIndex(5, 'right', 4, 10, 2)).toBe(6);
    expect(moveIndex(5, 'down', 4, 10, 2)).toBe(9);
    expect(moveIndex(7, 'down', 4, 10, 2)).toBe(9); //  last row is short: land on the last item
    expect(moveIndex(9, 'down', 4, 10, 2)).toBe(9);
    expect(moveIndex(1, 'up', 4, 10, 2)).toBe(0);
    expect(moveIndex(0, 'left', 4, 10, 2)).toBe(0);
    expect(moveIndex(0, 'pageDown', 4, 100, 3)).toBe(12);
    expect(moveIndex(50, 'end', 4, 100, 3)).toBe(99);
    expect(moveIndex(50, 'home', 4, 100, 3)).toBe(0);
    expect(moveIndex(0, 'right', 4, 0, 3)).toBe(0);
  });
});
