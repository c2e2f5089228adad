// Decides channels and native size from a few image headers: grey datasets train on 1 channel
// (3x less input work), tiny images (<= 48 px) train at their own size.
import sharp from 'sharp';

export async function probeImages(paths: string[], max = 24): Promise<{ channels: 1 | 3; nativeSize: number }> {
  const pick = paths.filter((_, i) => i % Math.max(1, Math.floor(paths.length / max)) === 0).slice(0, max);
  let colour = false;
  const sizes: number[] = [];
  for (const p of pick) {
    try {
      const s = sharp(p);
      const m = await s.metadata();
      if (m.width && m.height) sizes.push(Math.min(m.width, m.height));
      if ((m.channels ?? 1) >= 3 && !colour) {
        // palette/RGB files may still be grey: check that R, G, B agree
        const st = await s.stats();
        const [r, g, b] = st.channels;
        if (b && Math.abs(r.mean - g.mean) + Math.abs(g.mean - b.mean) > 0.5) colour = true;
      }
    } catch {
      /* unreadable files are reported by the loader */
    }
  }
  sizes.sort((a, b) => a - b);
  return { channels: colour ? 3 : 1, nativeSize: sizes.length ? sizes[Math.floor(sizes.length / 2)] : 64 };
}
