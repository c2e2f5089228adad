// Training runs of the open project: presets, start/stop/resume, live progress and per-epoch numbers.
import { defineStore } from 'pinia';
import { computed, reactive, ref, shallowRef, watch } from 'vue';
import type { ApiEvent, EpochStats, ProgressEvent, RunSummary, TrainConfig, TrainMethod } from '@shared/contract';
import { transport } from '../api/client';
import { useAppStore } from './app';
import { runDetails, type RunDetails } from '../lib/run-details';
import { presetEpochs, presets, type Preset } from '@shared/presets';

export { presetEpochs, presets, type Preset };

export interface TrainForm {
  preset: Preset['id'] | 'custom';
  method: TrainMethod;
  epochs: number;
  backend: TrainConfig['backend'];
  batchSize: number | null;
  imageSize: number | null;
  seed: number | null;
  useDecisions: boolean;
  balanced: boolean;
  pretrain: boolean;
  /** where the weights start: from scratch, torchvision ImageNet weights, a .safetensors file, or an earlier run */
  startFrom: 'scratch' | 'imagenet:resnet18' | 'imagenet:resnet50' | 'file' | 'run';
  weightsFile: string;
  initRun: string;
  freezeBackbone: boolean;
  /** wasm: train on two data-parallel replicas, one CPU core each (1.6-2.0x faster measured on 2 cores) */
  twoCores: boolean;
}

/** Folders from this size train on two CPU cores by default (wasm, Quick preset, measured on 2 cores): there two
 *  replicas matched one thread (10k public case, 3 seeds: noise F1 87.1 vs 87.2%, test top-1 73.9 vs 74.0%) at
 *  about twice the speed; on 2,000 images they cost 2.3 points of test top-1 (5 seeds, paired), where a run takes
 *  about a minute anyway. */
export const TWO_CORES_MIN_IMAGES = 5000;
export const twoCoresByDefault = (images: number | null | undefined): boolean => (images ?? 0) >= TWO_CORES_MIN_IMAGES;

/** A new Train panel: the Quick preset with `epochs`, from scratch, every option off but two CPU cores on a folder
 *  of `images` >= TWO_CORES_MIN_IMAGES. */
export function defaultForm(epochs: number, images?: number | null): TrainForm {
  return {
    preset: 'quick',
    method: 'mopro',
    epochs,
    backend: 'auto',
    batchSize: null,
    imageSize: null,
    seed: null,
    useDecisions: false,
    balanced: false,
    pretrain: false,
    startFrom: 'scratch',
    weightsFile: '',
    initRun: '',
    freezeBackbone: false,
    twoCores: twoCoresByDefault(images),
  };
}

/** Form -> API config; empty optional fields are left to the engine's defaults. */
export function configFromForm(f: TrainForm): TrainConfig {
  const c: TrainConfig = {
    method: f.method,
    epochs: f.epochs,
    backend: f.backend,
    useDecisions: f.useDecisions,
    statusRule: 'best',
    sampling: f.balanced ? 'balanced' : 'uniform',
    pretrain: f.pretrain ? 'permutation' : 'none',
    preset: f.preset,
  };
  if (f.batchSize) c.batchSize = f.batchSize;
  if (f.imageSize) c.imageSize = f.imageSize;
  if (f.seed !== null && Number.isFinite(f.seed)) c.seed = f.seed;
  const from = f.startFrom ?? 'scratch';
  if (from === 'imagenet:resnet18' || from === 'imagenet:resnet50') c.pretrained = from;
  else if (from === 'file' && f.weightsFile.trim()) c.pretrained = f.weightsFile.trim();
  else if (from === 'run' && f.initRun) c.initRun = f.initRun;
  if (from !== 'scratch' && f.freezeBackbone) c.freezeBackbone = true;
  if (f.twoCores) c.threads = 2;
  return c;
}

/** Adds or replaces one epoch's numbers, keeping the list ordered by epoch. */
export function mergeEpoch(list: EpochStats[], s: EpochStats): EpochStats[] {
  const out = list.filter((x) => x.epoch !== s.epoch);
  out.push(s);
  out.sort((a, b) => a.epoch - b.epoch);
  return out;
}

export const useTrainStore = defineStore('train', () => {
  const app = useAppStore();
  const form = reactive<TrainForm>(
    defaultForm(presetEpochs(presets[0]!, app.project?.imageCount), app.project?.imageCount),
  );
  const runId = ref<string | null>(null);
  const summary = shallowRef<RunSummary | null>(null);
  const epochs = shallowRef<EpochStats[]>([]);
  const progress = shallowRef<ProgressEvent | null>(null);
  const details = shallowRef<RunDetails | null>(null);
  const busy = ref(false);

  const running = computed(() => summary.value?.state === 'running');
  const backend = computed(() => summary.value?.backend ?? null);

  function applyPreset(id: Preset['id']): void {
    const p = presets.find((x) => x.id === id)!;
    form.preset = id;
    form.epochs = presetEpochs(p, app.project?.imageCount);
  }

  async function loadRun(id: string): Promise<void> {
    try {
      const r = await transport().api.call('runs.get', { runId: id });
      runId.value = id;
      summary.value = r.summary;
      epochs.value = [...r.epochs].sort((a, b) => a.epoch - b.epoch);
      details.value = runDetails(r.runJson);
      if (r.summary.state !== 'running') progress.value = null;
    } catch (err) {
      app.fail(err);
    }
  }

  /** Shows the running run, else the active one, else the newest. */
  async function attachToProject(): Promise<void> {
    const p = app.project;
    runId.value = null;
    summary.value = null;
    details.value = null;
    epochs.value = [];
    progress.value = null;
    if (!p || p.runs.length === 0) return;
    const newest = [...p.runs].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    const pick = newest.find((r) => r.state === 'running') ?? p.runs.find((r) => r.id === p.activeRunId) ?? newest[0]!;
    await loadRun(pick.id);
  }

  /** Runs one train action with the buttons disabled; a failure becomes a notice, never an unhandled rejection. */
  async function busyWhile(action: () => Promise<void>): Promise<void> {
    busy.value = true;
    try {
      await action();
    } catch (err) {
      app.fail(err);
    } finally {
      busy.value = false;
    }
  }

  async function start(): Promise<void> {
    const p = app.project;
    if (!p || busy.value) return;
    await busyWhile(async () => {
      const { runId: id } = await transport().api.call('train.start', {
        projectId: p.id,
        config: configFromForm(form),
      });
      runId.value = id;
      epochs.value = [];
      progress.value = null;
      await loadRun(id);
      await app.refreshProject();
    });
  }

  async function stop(): Promise<void> {
    if (!runId.value) return;
    const id = runId.value;
    await busyWhile(async () => {
      await transport().api.call('train.stop', { runId: id });
    });
  }

  async function resume(): Promise<void> {
    if (!runId.value) return;
    const from = runId.value;
    await busyWhile(async () => {
      const { runId: id } = await transport().api.call('train.resume', { runId: from });
      await loadRun(id);
      await app.refreshProject();
    });
  }

  /** Deletes a run that is not training (after the person confirmed). */
  async function deleteRun(id: string): Promise<void> {
    const p = app.project;
    if (!p) return;
    await busyWhile(async () => {
      app.project = await transport().api.call('runs.delete', { projectId: p.id, runId: id });
      if (runId.value === id) await attachToProject();
      app.notify('info', 'Run deleted.');
    });
  }

  async function renameRun(id: string, name: string): Promise<void> {
    const p = app.project;
    if (!p) return;
    await busyWhile(async () => {
      app.project = await transport().api.call('runs.rename', { projectId: p.id, runId: id, name });
      if (runId.value === id) await loadRun(id);
    });
  }

  let backendAsked = 0;
  async function onEvent(e: ApiEvent): Promise<void> {
    if (e.type !== 'train.progress' && e.type !== 'train.epoch' && e.type !== 'train.done') return;
    // A run started elsewhere (CLI, another window) for this project: follow it.
    if (e.runId !== runId.value) {
      if (!app.project?.runs.some((r) => r.id === e.runId)) await app.refreshProject();
      if (!app.project?.runs.some((r) => r.id === e.runId)) return;
      if (summary.value?.state === 'running') return;
      await loadRun(e.runId);
    }
    if (e.type === 'train.progress') {
      progress.value = e;
      if (summary.value && summary.value.state !== 'running') summary.value = { ...summary.value, state: 'running' };
      // The backend is chosen after the run starts: ask again (at most every 2 s) until it is known.
      if (summary.value && !summary.value.backend && e.phase !== 'scan' && Date.now() - backendAsked > 2000) {
        backendAsked = Date.now();
        const id = e.runId;
        transport()
          .api.call('runs.get', { runId: id })
          .then((r) => {
            if (runId.value === id && summary.value && r.summary.backend)
              summary.value = { ...summary.value, backend: r.summary.backend };
          })
          .catch(() => undefined);
      }
    } else if (e.type === 'train.epoch') {
      epochs.value = mergeEpoch(epochs.value, e.stats);
      if (summary.value)
        summary.value = { ...summary.value, epochsDone: Math.max(summary.value.epochsDone, e.stats.epoch + 1) };
    } else {
      progress.value = null;
      await loadRun(e.runId);
      await app.refreshProject();
      if (e.state === 'done') {
        if (app.project && app.project.activeRunId !== e.runId) await app.setActiveRun(e.runId);
        app.notify('info', 'Training finished: the suggestions are ready to review.');
      } else if (e.state === 'failed') {
        app.notify('error', `Training failed: ${e.error ?? 'see run.json in the run folder'}`);
      }
    }
  }

  app.onEvent((e) => void onEvent(e));
  watch(
    () => app.project?.id,
    () => void attachToProject(),
  );
  // a preset's epochs and the two-core default depend on the folder's size
  watch(
    () => app.project?.imageCount,
    (images) => {
      const p = presets.find((x) => x.id === form.preset);
      if (p) form.epochs = presetEpochs(p, images);
      form.twoCores = twoCoresByDefault(images);
    },
  );

  return {
    form,
    runId,
    summary,
    epochs,
    progress,
    details,
    busy,
    running,
    backend,
    applyPreset,
    loadRun,
    attachToProject,
    start,
    stop,
    resume,
    deleteRun,
    renameRun,
  };
});
