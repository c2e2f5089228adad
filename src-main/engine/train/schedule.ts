// Learning-rate schedules. Official MoPro: step x0.1 at epochs 40/80 of 90 (mopro.md §4); for the short runs a
// desktop can afford, a per-step cosine decay with a short linear warm-up trains better (set in defaults.ts).
export interface LrSchedule {
  kind: 'cosine' | 'step';
  base: number;
  warmupEpochs: number;
  milestones?: number[];
  epochs: number;
}

/** lr at fractional epoch t (epoch + step/steps). */
export function lrAt(s: LrSchedule, t: number): number {
  if (s.warmupEpochs > 0 && t < s.warmupEpochs) return (s.base * (t + 1e-3)) / s.warmupEpochs;
  if (s.kind === 'step') {
    let lr = s.base;
    for (const m of s.milestones ?? []) if (Math.floor(t) >= m) lr *= 0.1;
    return lr;
  }
  const u = Math.min(1, (t - s.warmupEpochs) / Math.max(1e-9, s.epochs - s.warmupEpochs));
  return s.base * 0.5 * (1 + Math.cos(Math.PI * u));
}
