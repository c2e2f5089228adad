// "Freeze backbone (fast)": the time to compute the frozen features before training, from throughput measured
// on the development box (2-core AMD EPYC, wasm SIMD, one thread, eval-mode forward, batch 16, CPU seconds):
// ResNet-18 6.5 images/s at 224 px and 27.1 at 112 px; ResNet-50 2.8 at 224 px. Cost scales with the pixel count.
const RATE_224: Record<string, number> = { resnet18: 6.5, resnet50: 2.8 };

/** Seconds to compute features of `images` images and their mirrors on one wasm thread, or null when unknown. */
export function frozenFeatureSeconds(arch: string, images: number, size: number): number | null {
  const r = RATE_224[arch];
  if (!r || images <= 0 || size <= 0) return null;
  return (2 * images) / (r * (224 / size) ** 2);
}

/** "about 4 min" / "about 40 s" / "about 2.5 h" */
export function roughDuration(s: number): string {
  if (s < 90) return `about ${Math.max(1, Math.round(s))} s`;
  if (s < 5400) return `about ${Math.round(s / 60)} min`;
  return `about ${(s / 3600).toFixed(1)} h`;
}
