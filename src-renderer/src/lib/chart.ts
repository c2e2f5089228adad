// SVG path maths for the Train panel's per-epoch loss chart (a few lines, CSP-clean; the Insights charts use echarts).
export interface Series {
  name: string;
  values: number[];
}

export interface Plot {
  width: number;
  height: number;
  pad: number;
}

/** Polyline path for values over epochs 0..n-1, scaled into the plot box with a shared [0, max]. */
export function linePath(values: number[], max: number, box: Plot): string {
  if (values.length === 0) return '';
  const w = box.width - 2 * box.pad;
  const h = box.height - 2 * box.pad;
  const top = max > 0 ? max : 1;
  const step = values.length > 1 ? w / (values.length - 1) : 0;
  return values
    .map((v, i) => {
      const x = box.pad + (values.length > 1 ? i * step : w / 2);
      const y = box.pad + h - (Math.max(0, Number.isFinite(v) ? v : 0) / top) * h;
      return `${i === 0 ? 'M' : 'L'}${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(' ');
}

export function seriesMax(series: Series[]): number {
  let m = 0;
  for (const s of series) for (const v of s.values) if (Number.isFinite(v) && v > m) m = v;
  return m;
}
