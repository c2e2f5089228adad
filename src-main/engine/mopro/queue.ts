// Instance queue (mopro.md §1): d x Q matrix of key embeddings, FIFO with a pointer, initialised with
// random unit-norm Gaussian columns. Kept as a JS Float32Array (column j = one key) and uploaded once
// per step: simple, checkpointable, and a 4 MB copy is negligible next to the convolutions.
import type { Rng } from '../../../src-shared/rng';

export class InstanceQueue {
  readonly data: Float32Array; // row-major d x Q
  ptr = 0;
  constructor(
    readonly d: number,
    readonly size: number,
    rng?: Rng,
    data?: Float32Array,
    ptr = 0,
  ) {
    if (data) {
      if (data.length !== d * size) throw new Error('queue data size mismatch');
      this.data = data;
      this.ptr = ptr;
      return;
    }
    this.data = new Float32Array(d * size);
    if (!rng) return;
    for (let t = 0; t < d * size; t++) this.data[t] = rng.normal();
    for (let j = 0; j < size; j++) {
      // L2-normalise each column
      let s = 0;
      for (let t = 0; t < d; t++) s += this.data[t * size + j] ** 2;
      const inv = 1 / Math.sqrt(s || 1);
      for (let t = 0; t < d; t++) this.data[t * size + j] *= inv;
    }
  }
  /** Overwrites the next B columns with the keys (B x d, row-major). Q % B == 0 is enforced by the caller's defaults,
   *  but a wrap-around is handled anyway. */
  enqueue(keys: Float32Array, B: number): void {
    for (let i = 0; i < B; i++) {
      const j = (this.ptr + i) % this.size;
      for (let t = 0; t < this.d; t++) this.data[t * this.size + j] = keys[i * this.d + t];
    }
    this.ptr = (this.ptr + B) % this.size;
  }
}
