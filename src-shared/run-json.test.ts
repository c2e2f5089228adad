// The run.json schema and its one migration: what each writer writes parses, and every older shape reads as the
// version-1 file it stands for.
import { describe, expect, it } from 'vitest';
import { migrateRunJson, parseRunJson, RunJson, type RunJsonInput } from './run-json';

const v1: RunJsonInput = {
  version: 1,
  state: 'done',
  method: 'ce',
  dataset: '/data/clothes',
  out: '/runs/r1',
  createdAt: '2026-12-01T10:00:00.000Z',
  config: { method: 'ce', epochs: 3 },
  backend: { name: 'wasm', reason: 'auto', skipped: [{ name: 'tensorflow', why: 'not installed' }] },
  datasetSummary: { classes: ['a', 'b'], counts: [2, 1], images: 3, used: 3, skipped: [], warnings: [] },
  epochs: [
    {
      epoch: 0,
      loss: 1.5,
      losses: { ce: 1.5, ins: 0, pro: 0 },
      relabeled: 0,
      ood: 0,
      imagesPerSec: 100,
      seconds: 0.03,
    },
  ],
};
const parse = (j: unknown) => parseRunJson(JSON.stringify(j), '/runs/r1/run.json', '/runs/r1');

describe('run.json schema', () => {
  it('reads what the engine writes; keys it does not type pass through', () => {
    const j = parse({ ...v1, normalisation: { mean: [0.5], std: [0.25] }, memory: { rssMB: 300 } });
    expect(j.datasetSummary.classes).toEqual(['a', 'b']);
    expect(j.epochs[0].losses).toEqual({ ce: 1.5, ins: 0, pro: 0 });
    expect(j.normalisation).toEqual({ mean: [0.5], std: [0.25] });
    expect(j.memory).toEqual({ rssMB: 300 });
  });

  it("reads the PyTorch job's run.json (scale-out/mopro_ddp/train.py write_run_json)", () => {
    const j = parse({
      version: 1,
      state: 'done',
      method: 'mopro',
      dataset: '/data/clothes',
      out: '/job/run',
      createdAt: '2026-12-01T10:00:00Z',
      engine: 'mopro_ddp (PyTorch DistributedDataParallel)',
      config: { method: 'mopro', epochs: 2, arch: 'resnet-micro', archSpec: { note: '' }, seed: 1 },
      adaptations: [],
      backend: { name: 'pytorch-ddp-gloo', reason: 'torch 2.5, 2 process(es), CPU', skipped: [] },
      distributed: { worldSize: 2, backend: 'gloo', perRankBatch: 8, globalBatch: 16 },
      model: {
        arch: 'resnet-micro',
        note: '',
        params: 85562,
        weights: 'model/weights.safetensors',
        layout: 'torchvision',
      },
      normalisation: { mean: [0.5], std: [0.25] },
      datasetSummary: {
        classes: ['a', 'b'],
        counts: [2, 1],
        images: 3,
        used: 2,
        skipped: [{ path: 'b/x.png', reason: 'cannot decode' }],
        warnings: [],
        fixedLabels: 0,
        excluded: 0,
      },
      epochs: [
        {
          epoch: 0,
          loss: 2.1,
          losses: { ce: 1.5, ins: 0.4, pro: 0.2 },
          relabeled: 0,
          ood: 0,
          imagesPerSec: 50,
          seconds: 1,
          judged: 3,
          steps: 1,
          lr: 0.05,
          protoMaxDiffAcrossRanks: 0,
          queueSumSpreadAcrossRanks: 0,
        },
      ],
      wall: { trainSeconds: 2 },
      counts: { clean: 2, relabeled: 0, ood: 1 },
      finalPass: { seconds: 0.1, statusRule: 'official' },
    });
    expect(j.backend.name).toBe('pytorch-ddp-gloo');
    expect(j.epochs[0].losses).toEqual({ ce: 1.5, ins: 0.4, pro: 0.2 });
    expect(j.counts).toEqual({ clean: 2, relabeled: 0, ood: 1 });
    expect(j.distributed).toMatchObject({ worldSize: 2 });
  });

  it('a diverged loss (NaN, written as null) reads back as NaN', () => {
    const j = parse({ ...v1, epochs: [{ ...v1.epochs[0], loss: NaN, losses: { ce: NaN, ins: 0, pro: 0 } }] });
    expect(j.epochs[0].loss).toBeNaN();
    expect(j.epochs[0].losses.ce).toBeNaN();
  });

  it('epoch records with flat loss fields (the engine before the loss record, the PyTorch job) are lifted', () => {
    const { losses: _losses, ...flat } = v1.epochs[0];
    const j = parse({ ...v1, epochs: [{ ...flat, lossCe: 1.2, lossIns: 0.2, lossPro: 0.1, lr: 0.05 }] });
    expect(j.epochs[0]).toEqual({
      epoch: 0,
      loss: 1.5,
      losses: { ce: 1.2, ins: 0.2, pro: 0.1 },
      relabeled: 0,
      ood: 0,
      imagesPerSec: 100,
      seconds: 0.03,
    });
  });

  it('the unversioned shapes the test fixtures once wrote read as version 1', () => {
    // the fixture's old run.json: dataset as an object, classes beside it, the dataset again in the config
    const j = parse({
      config: { method: 'mopro', epochs: 2, dataset: '/data/x' },
      dataset: { root: '/data/x', classes: ['a', 'b'] },
      classes: ['a', 'b'],
      state: 'done',
      epochs: [],
      createdAt: '2026-01-01T00:00:00Z',
      backend: { name: 'synthetic' },
    });
    expect(j).toMatchObject({
      version: 1,
      method: 'mopro',
      dataset: '/data/x',
      out: '/runs/r1',
      createdAt: '2026-01-01T00:00:00Z',
      config: { method: 'mopro', epochs: 2 },
      datasetSummary: { classes: ['a', 'b'], counts: [], skipped: [] },
      backend: { name: 'synthetic' },
    });
    // the other spellings: datasetRoot, training.epochs, startedAt, model.classes, method and epochsTotal beside
    // the config, the backend as a bare name
    const k = parse({
      datasetRoot: '/data/y',
      training: { epochs: [v1.epochs[0]] },
      times: { startedAt: '2026-01-02T00:00:00Z' },
      model: { classes: ['c', 'd'] },
      method: 'ce',
      epochsTotal: 9,
      backend: 'cpu',
      state: 'stopped',
    });
    expect(k).toMatchObject({
      dataset: '/data/y',
      createdAt: '2026-01-02T00:00:00Z',
      method: 'ce',
      config: { method: 'ce', epochs: 9 },
      backend: { name: 'cpu' },
      datasetSummary: { classes: ['c', 'd'] },
    });
    expect(k.epochs).toHaveLength(1);
    expect(parse({ startedAt: '2026-01-03T00:00:00Z', dataset: '/d', state: 'done' }).createdAt).toBe(
      '2026-01-03T00:00:00Z',
    );
  });

  it('a versioned file is not guessed at: migration leaves its fields alone', () => {
    const odd = { ...v1, classes: ['x'], datasetRoot: '/elsewhere' };
    expect(migrateRunJson(odd, '/runs/r1')).toMatchObject({ dataset: '/data/clothes', classes: ['x'] });
    expect(parse(odd).datasetSummary.classes).toEqual(['a', 'b']);
  });

  it('what is not a run summary fails with the file and the field', () => {
    expect(() => parseRunJson('{', '/runs/r1/run.json', '/runs/r1')).toThrow(/\/runs\/r1\/run\.json: not JSON/);
    expect(() => parse({ ...v1, version: 2 })).toThrow(/run\.json: not a MoPro run summary \(version: /);
    expect(() => parse({ ...v1, state: 'paused' })).toThrow(/\(state: /);
    expect(() => parse({ dataset: '/d', epochs: [] })).toThrow(/\(state: /); // unversioned without a state
    expect(() => parse([1, 2])).toThrow(/not a MoPro run summary/);
    expect(RunJson.safeParse({ ...v1, datasetSummary: { classes: 'a' } }).success).toBe(false);
  });
});
