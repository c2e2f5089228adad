// Seeded PRNG (mulberry32) whose whole state is one uint32, so checkpoints can store and resume it.
export class Rng {
  constructor(public state: number) {
    this.state = state >>> 0;
  }
  /** uniform in [0,1) */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(a: number, b: number): number {
    return a + (b - a) * this.next();
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** A seed for tf.js's own generators (the `seed` argument of tf.randomNormal / tf.randomUniform). */
  tfSeed(): number {
    return this.int(2147483647);
  }
  normal(): number {
    const u = Math.max(1e-12, this.next()),
      v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}
