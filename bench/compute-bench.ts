// `npm run bench:compute` — training throughput and peak memory per compute backend, next to PyTorch on
// the same network, on this machine.
//
//   npm run bench:compute -- [--backends wasm,wasm-dp2,webgpu,tensorflow,torch,torch-1t] [--cases 28-grey,64-rgb,224-rgb]
//                            [--seconds 20] [--batch 128] [--rounds 1]
//
// Each backend runs in a child process of its own (peak RSS is that process's maxRSS), on random
// pixels: the engine's CE training step (Trainer, method ce: the default network for the size,
// weak augmentation, momentum SGD; one read-back per step), warmed up by two steps (kernels,
// shaders), then timed for --seconds. PyTorch times the same network (bench/torch_throughput.py:
// forward + backward + SGD, no augmentation, all cores) with Debian's python3-torch. A backend that
// is not available here is listed with the reason. webgpu takes whatever adapter there is and says
// which (a CPU one such as lavapipe only emulates a GPU). wasm runs on one thread; wasm-dpN trains the same
// batch on N data-parallel wasm replicas (train/data-parallel.ts: this thread + N-1 worker_threads, gradients
// averaged each step), so wasm-dp2 against wasm is the two-core speed-up. The load average is printed per row:
// on a machine shared with other jobs the img/s figures are noise, so the per-thread CPU seconds per step are
// printed too (Linux): one thread's over the slowest replica's is the speed-up on free cores ("CPU-bound"), and
// torch-1t (PyTorch on one thread) bounds PyTorch's speed on N free cores by perfect scaling.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(import.meta.dirname, '..');
interface Case {
  name: string;
  size: number;
  channels: 1 | 3;
}
const CASES: Record<string, Case> = {
  '28-grey': { name: '28-grey', size: 28, channels: 1 },
  '64-rgb': { name: '64-rgb', size: 64, channels: 3 },
  // the engine's choice from 128 px up: ResNet-18 (run it with a small --batch on a CPU)
  '224-rgb': { name: '224-rgb', size: 224, channels: 3 },
};
interface ChildSpec {
  backend: string;
  size: number;
  channels: 1 | 3;
  batch?: number;
  seconds: number;
}
interface Row {
  case: string;
  backend: string;
  ips: number | null;
  peakRssMB: number | null;
  note: string;
  /** CPU seconds per step of each replica's thread (one entry for a single thread; Linux only) */
  cpuStep?: number[];
}

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

/** The network both sides run: the engine's default CPU config for that image size (same for every backend). */
async function netConfig(size: number, channels: 1 | 3, batch?: number) {
  const { resolveConfig } = await import('../src-main/engine/train/config');
  return resolveConfig({
    method: 'ce',
    backend: 'wasm',
    n: 10_000,
    k: 10,
    channels,
    nativeSize: size,
    imageSize: size,
    batchSize: batch,
  }).config;
}

async function child(spec: ChildSpec): Promise<void> {
  const { selectBackend } = await import('../src-main/engine/backends/backend');
  const { Trainer } = await import('../src-main/engine/train/trainer');
  const { Rng } = await import('../src-shared/rng');
  const dpN = /^wasm-dp(\d+)$/.exec(spec.backend);
  const replicas = dpN ? Number(dpN[1]) : 1;
  const choice = await selectBackend((dpN ? 'wasm' : spec.backend) as never, undefined, { webgpu: true });
  const cfg = await netConfig(spec.size, spec.channels, spec.batch);
  const B = cfg.batchSize,
    n = B * 4,
    per = spec.size * spec.size * spec.channels,
    rng = new Rng(1);
  const pixels = Uint8Array.from({ length: n * per }, () => Math.floor(rng.next() * 256));
  const labels = Int32Array.from({ length: n }, () => Math.floor(rng.next() * 10));
  const norm = { mean: Array(spec.channels).fill(0.5), std: Array(spec.channels).fill(0.29) };
  const t = new Trainer(
    { ...cfg, epochs: 1000 },
    {
      pixels,
      n,
      h: spec.size,
      w: spec.size,
      c: spec.channels,
      labels,
      fixed: new Uint8Array(n),
      trainIdx: Int32Array.from({ length: n }, (_, i) => i),
      numClasses: 10,
    },
    norm,
  );
  const { DataParallel, threadCpuMs } = await import('../src-main/engine/train/data-parallel');
  const dp = replicas > 1 ? await DataParallel.start(t, replicas, norm) : null;
  const step = () => (dp ? dp.step() : t.step());
  await step();
  await step();
  const cpu = () => (dp ? dp.cpuMs() : [threadCpuMs() ?? -1]);
  const cpu0 = cpu();
  let steps = 0;
  const t0 = performance.now();
  while ((performance.now() - t0) / 1000 < spec.seconds || steps < 2) {
    await step();
    steps++;
  }
  await dp?.close(); // after it every replica has recorded its last step
  const cpuStep = cpu().map((v, r) => (v < 0 || cpu0[r] < 0 ? -1 : (v - cpu0[r]) / 1000 / steps));
  const secs = (performance.now() - t0) / 1000;
  const adapter = choice.adapter
    ? `, adapter ${choice.adapter.description || choice.adapter.device}${choice.adapter.fallback ? ' (CPU fallback)' : ''}`
    : '';
  process.stdout.write(
    `${JSON.stringify({
      ips: (steps * B) / secs,
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
      cpuStep,
      note: `${choice.name}${dp ? ` x ${replicas} data-parallel replicas` : ''}: ${cfg.arch}, batch ${B}, ${steps} steps in ${secs.toFixed(1)} s${adapter}`,
    })}\n`,
  );
}

function runChild(spec: ChildSpec): Omit<Row, 'case' | 'backend'> {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', JSON.stringify(spec)],
    { cwd: root, encoding: 'utf8', timeout: (spec.seconds + 600) * 1000 },
  );
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status === 0 && last.startsWith('{')) return JSON.parse(last);
  if (r.signal)
    return {
      ips: null,
      peakRssMB: null,
      note: `not measured: stopped by ${r.signal} after ${spec.seconds + 600} s (warm-up and two steps did not finish)`,
    };
  const why =
    (r.stderr || '')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('Warning: max') && !l.startsWith('at '))
      .pop() ?? `exit ${r.status}`;
  return { ips: null, peakRssMB: null, note: `not measured: ${why.slice(0, 200)}` };
}

async function torchRow(c: Case, batch?: number, threads?: number): Promise<Omit<Row, 'case' | 'backend'>> {
  const py = ['/usr/bin/python3', 'python3'].find(
    (p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0,
  );
  if (!py)
    return { ips: null, peakRssMB: null, note: 'not measured: PyTorch not installed (apt-get install python3-torch)' };
  const { ARCHS } = await import('../src-main/engine/nets/model');
  const cfg = await netConfig(c.size, c.channels, batch);
  const spec = { ...cfg, spec: ARCHS[cfg.arch], numClasses: 10, ...(threads ? { threads } : {}) };
  // peak RSS of the python process itself, printed after the script's own JSON line
  const wrap =
    'import json,resource,runpy,sys; sys.argv=[sys.argv[1],sys.argv[2]]; runpy.run_path(sys.argv[0], run_name="__main__"); ' +
    'print(json.dumps({"peakRssMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))';
  const r = spawnSync(py, ['-c', wrap, path.join(root, 'bench', 'torch_throughput.py'), JSON.stringify(spec)], {
    encoding: 'utf8',
    timeout: 900_000,
  });
  const lines = r.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'));
  if (r.status !== 0 || lines.length < 2)
    return { ips: null, peakRssMB: null, note: `not measured: ${(r.stderr || '').trim().split('\n').pop()}` };
  const out = JSON.parse(lines[lines.length - 2]),
    mem = JSON.parse(lines[lines.length - 1]);
  return { ips: out.imagesPerSec, peakRssMB: mem.peakRssMB, note: out.note, cpuStep: [out.cpuPerStep ?? -1] };
}

const median = (v: number[]) => {
  const a = [...v].sort((x, y) => x - y);
  return a.length % 2 ? a[a.length >> 1] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
};

interface Summary extends Row {
  ipsRange?: [number, number];
  /** img/s over PyTorch's (2 threads) in the same round: median, lowest and highest over the rounds */
  vsTorch?: { median: number; min: number; max: number };
}

/** One row per case and backend from the rounds' rows: median img/s and CPU s/step, largest peak RSS, the last note. */
function aggregate(runs: Row[][]): Summary[] {
  const out: Summary[] = [];
  for (const r0 of runs.flat()) {
    if (out.some((x) => x.case === r0.case && x.backend === r0.backend)) continue;
    const same = runs.flatMap((round) => round.filter((x) => x.case === r0.case && x.backend === r0.backend));
    const ips = same.flatMap((x) => (x.ips == null ? [] : [x.ips]));
    const ratios = runs.flatMap((round) => {
      const mine = round.find((x) => x.case === r0.case && x.backend === r0.backend)?.ips;
      const torch = round.find((x) => x.case === r0.case && x.backend === 'torch')?.ips;
      return mine != null && torch && !r0.backend.startsWith('torch') ? [mine / torch] : [];
    });
    const steps = same.flatMap((x) => (x.cpuStep ? [x.cpuStep] : []));
    out.push({
      case: r0.case,
      backend: r0.backend,
      ips: ips.length ? median(ips) : null,
      ipsRange: ips.length ? [Math.min(...ips), Math.max(...ips)] : undefined,
      peakRssMB: same.reduce<number | null>((m, x) => (x.peakRssMB == null ? m : Math.max(m ?? 0, x.peakRssMB)), null),
      note: same[same.length - 1].note,
      cpuStep: steps.length ? steps[0].map((_, i) => median(steps.map((v) => v[i] ?? -1))) : undefined,
      vsTorch: ratios.length
        ? { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) }
        : undefined,
    });
  }
  return out;
}

async function main(): Promise<void> {
  const backends = arg('backends', 'wasm,wasm-dp2,webgpu,tensorflow,torch,torch-1t').split(',');
  const cases = arg('cases', '28-grey,64-rgb')
    .split(',')
    .map((n) => {
      if (!CASES[n]) throw new Error(`unknown case ${n}: use ${Object.keys(CASES).join(', ')}`);
      return CASES[n];
    });
  const seconds = Number(arg('seconds', '20'));
  const batch = process.argv.includes('--batch') ? Number(arg('batch', '128')) : undefined;
  process.stdout.write(
    `machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, load ${os.loadavg()[0].toFixed(1)}\n`,
  );
  // --rounds N: every backend of a case runs once per round, the rounds one after another, so slow drifts of a
  // shared or virtual machine's speed hit every backend alike; the table gives medians, the ratio to PyTorch is
  // the median of each round's own ratio, with the range over rounds
  const rounds = Math.max(1, Number(arg('rounds', '1')));
  const runs: Row[][] = [];
  for (const c of cases)
    for (let round = 0; round < rounds; round++) {
      const these: Row[] = [];
      for (const b of backends) {
        const load = os.loadavg()[0].toFixed(1);
        const r =
          b === 'torch' || b === 'torch-1t'
            ? await torchRow(c, batch, b === 'torch-1t' ? 1 : undefined)
            : runChild({ backend: b, size: c.size, channels: c.channels, batch, seconds });
        these.push({ case: c.name, backend: b, ...r });
        process.stdout.write(
          `${c.name} ${b}${rounds > 1 ? ` (round ${round + 1})` : ''}: ${r.ips != null ? `${r.ips.toFixed(1)} img/s` : '-'}, peak RSS ${r.peakRssMB ?? '-'} MB (${r.note}; load ${load} before${r.cpuStep?.every((v) => v >= 0) ? `; CPU s/step ${r.cpuStep.map((v) => v.toFixed(2)).join(' / ')}` : ''})\n`,
        );
      }
      runs.push(these);
    }
  const rows = aggregate(runs);
  process.stdout.write(
    `\n| case | backend | train img/s${rounds > 1 ? ` (median of ${rounds} rounds, range)` : ''} | vs PyTorch | peak RSS MB | note |\n|---|---|---|---|---|---|\n`,
  );
  for (const r of rows) {
    const rel = r.vsTorch
      ? `${r.vsTorch.median.toFixed(2)}x${rounds > 1 ? ` (${r.vsTorch.min.toFixed(2)}-${r.vsTorch.max.toFixed(2)})` : ''}`
      : '';
    const ips =
      r.ips == null
        ? '-'
        : `${r.ips.toFixed(1)}${rounds > 1 ? ` (${r.ipsRange![0].toFixed(1)}-${r.ipsRange![1].toFixed(1)})` : ''}`;
    process.stdout.write(`| ${r.case} | ${r.backend} | ${ips} | ${rel} | ${r.peakRssMB ?? '-'} | ${r.note} |\n`);
  }
  // the multi-core speed-up: data-parallel replicas against one wasm thread on the same network and batch.
  // Measured = img/s ratio (meaningful on an otherwise idle machine). CPU-bound = one thread's CPU seconds per
  // step over the slowest replica's: the speed-up that many free cores would give, whatever the load now.
  for (const r of rows) {
    const one = rows.find((x) => x.case === r.case && x.backend === 'wasm');
    if (!/^wasm-dp\d+$/.test(r.backend) || r.ips == null || !one?.ips) continue;
    const c1 = one.cpuStep?.[0] ?? -1,
      cN = Math.max(...(r.cpuStep ?? [-1]));
    const cpuPart =
      c1 > 0 && cN > 0 && !(r.cpuStep ?? []).some((v) => v < 0)
        ? `; CPU s/step ${c1.toFixed(2)} on one thread, ${r.cpuStep!.map((v) => v.toFixed(2)).join(' / ')} per replica: CPU-bound ${(c1 / cN).toFixed(2)}x`
        : '';
    // against PyTorch on the same cores: its one-thread CPU time per step halved (perfect scaling, its best case)
    const t1 = rows.find((x) => x.case === r.case && x.backend === 'torch-1t')?.cpuStep?.[0] ?? -1;
    const torchPart =
      cpuPart && t1 > 0
        ? `; PyTorch one thread ${t1.toFixed(2)} CPU s/step, so on ${r.cpuStep!.length} free cores at least ${(t1 / r.cpuStep!.length / cN).toFixed(2)}x PyTorch`
        : '';
    process.stdout.write(
      `${r.case}: ${r.backend} / wasm = ${(r.ips / one.ips).toFixed(2)}x measured${cpuPart}${torchPart}\n`,
    );
  }
}

const ci = process.argv.indexOf('--child');
if (ci >= 0) {
  // a backend that cannot load here is a row with the reason, not a crash
  await child(JSON.parse(process.argv[ci + 1]) as ChildSpec).catch((e: unknown) => {
    process.stdout.write(
      `${JSON.stringify({
        ips: null,
        peakRssMB: null,
        note: `not measured: ${String((e as Error)?.message ?? e)
          .split('\n')[0]
          .slice(0, 240)}`,
      })}\n`,
    );
  });
} else await main();
