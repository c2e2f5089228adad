// The Train panel's presets, sized by the folder: the app starts runs with them, and the benches
// (bench/bench-runs.ts) train the cases exactly as the app's preset would.
export interface Preset {
  id: 'quick' | 'balanced' | 'thorough';
  label: string;
  hint: string;
  /** image passes aimed at: epochs = passes / images, kept within [minEpochs, maxEpochs] */
  passes: number;
  minEpochs: number;
  maxEpochs: number;
}

// Sized in image passes so a preset costs about the same time on any folder (CPU/wasm, 28 px: ~100-200 images/s).
// Quick: 12k passes, e.g. 12 epochs on the 1,000-image bundled sample (OOD F1 0.90, noise F1 0.63 measured; a 400-image
// sample stayed below OOD F1 0.5 at 15-40 epochs), 6 on 2,000 images, at least 5 (so noise cleaning runs for some epochs).
// Balanced: the engine's default schedule (150k passes, at most 40 epochs).
export const presets: Preset[] = [
  { id: 'quick', label: 'Quick', hint: 'a first look in minutes', passes: 12_000, minEpochs: 5, maxEpochs: 40 },
  {
    id: 'balanced',
    label: 'Balanced',
    hint: 'good suggestions for most folders',
    passes: 150_000,
    minEpochs: 10,
    maxEpochs: 40,
  },
  {
    id: 'thorough',
    label: 'Thorough',
    hint: 'full warm-up and cleaning schedule',
    passes: 400_000,
    minEpochs: 40,
    maxEpochs: 90,
  },
];

/** The preset's epochs for a folder of `images` images (before a folder is open: as for 2,000). */
export function presetEpochs(p: Preset, images: number | null | undefined): number {
  const n = images && images > 0 ? images : 2000;
  return Math.max(p.minEpochs, Math.min(p.maxEpochs, Math.round(p.passes / n)));
}
