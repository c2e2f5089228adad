// Small display helpers (pure).
export function formatEta(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

export function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

export function score(x: number): string {
  return x.toFixed(2);
}

export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** Fraction of a training run done, from the last progress event. */
export function runFraction(p: { epoch: number; epochs: number; step: number; steps: number } | null): number {
  if (!p || p.epochs <= 0) return 0;
  const within = p.steps > 0 ? p.step / p.steps : 0;
  return Math.min(1, Math.max(0, (p.epoch + within) / p.epochs));
}
