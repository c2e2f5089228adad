// Remembered window size/position. The maths (clamp onto a display that still exists) is pure;
// load/save are tiny and forgiving: a missing or corrupt file means "use the defaults".
import fs from 'node:fs';
import path from 'node:path';
import { writeAtomic, writeAtomicSync } from '../util/atomic';

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}
export interface WindowState extends Rect {
  maximized: boolean;
}

export const DEFAULT_SIZE = { width: 1360, height: 860 };
export const MIN_SIZE = { width: 720, height: 480 };
/** At least this much of the title bar must be on a display, or the window is re-centred. */
const MIN_VISIBLE = 100;

function overlap(a: Rect, b: Rect): { w: number; h: number } {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return { w: Math.max(0, w), h: Math.max(0, h) };
}

function centred(size: { width: number; height: number }, area: Rect): Rect {
  const width = Math.max(Math.min(size.width, area.width), Math.min(MIN_SIZE.width, area.width));
  const height = Math.max(Math.min(size.height, area.height), Math.min(MIN_SIZE.height, area.height));
  return {
    x: Math.round(area.x + (area.width - width) / 2),
    y: Math.round(area.y + (area.height - height) / 2),
    width,
    height,
  };
}

/**
 * Puts a saved window onto the current displays: keeps it where it was when its title bar is
 * still visible on some display's work area (size shrunk to fit that display), otherwise
 * centres it on the primary display. Handles monitors unplugged since the last run.
 */
export function clampToDisplays(saved: Partial<WindowState> | null, workAreas: Rect[], primary: Rect): WindowState {
  const maximized = saved?.maximized === true;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? Math.round(v) : null);
  const w = num(saved?.width),
    h = num(saved?.height),
    x = num(saved?.x),
    y = num(saved?.y);
  const size = {
    width: w && w > 0 ? Math.max(w, MIN_SIZE.width) : DEFAULT_SIZE.width,
    height: h && h > 0 ? Math.max(h, MIN_SIZE.height) : DEFAULT_SIZE.height,
  };
  if (x === null || y === null) return { ...centred(size, primary), maximized };
  const titleBar: Rect = { x, y, width: size.width, height: 32 };
  const host = workAreas.find((a) => {
    const o = overlap(titleBar, a);
    return o.w >= Math.min(MIN_VISIBLE, size.width) && o.h > 0;
  });
  if (!host) return { ...centred(size, primary), maximized };
  const width = Math.min(size.width, host.width);
  const height = Math.min(size.height, host.height);
  // Shift back inside the host so the whole (shrunk) window is reachable.
  const cx = Math.min(Math.max(x, host.x), host.x + host.width - width);
  const cy = Math.min(Math.max(y, host.y), host.y + host.height - height);
  return { x: cx, y: cy, width, height, maximized };
}

export function windowStateFile(dataDir: string): string {
  return path.join(dataDir, 'window-state.json');
}

export function loadWindowState(file: string): Partial<WindowState> | null {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8'));
    return v && typeof v === 'object' ? (v as Partial<WindowState>) : null;
  } catch {
    return null;
  }
}

export async function saveWindowState(file: string, s: WindowState): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  await writeAtomic(file, JSON.stringify(s) + '\n');
}

/** Sync variant for the window 'close' handler, where the process may exit right after. */
export function saveWindowStateSync(file: string, s: WindowState): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeAtomicSync(file, JSON.stringify(s) + '\n');
}
