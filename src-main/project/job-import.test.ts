// `mopro job` (the job folder's contents and its refusals) and `mopro import-official` (the official
// noise_cleaning.py JSON as a run folder: path matching, statuses, reported unmatched paths, bad input).
// Pure TypeScript + bash syntax checks: runs without PyTorch.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { SAMPLES_HEADER } from '../../src-shared/run-format';
import { parseCsv } from '../util/csv';
import { JOB_FILES_HEADER, writeJob } from './job';
import { importOfficial, matchPath, suffixIndex, UNMATCHED_TXT } from './import-official';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-job-'));
const ds = path.join(tmp, 'ds');
// cat/a.png and dog/a.png share a file name: a bare "a.png" is ambiguous
const FILES = [
  'cat/a.png',
  'cat/b.png',
  'cat/sub/c.png',
  'dog/a.png',
  'dog/d.png',
  'dog/e.png',
  'fox/f.png',
  'fox/g.png',
];

beforeAll(async () => {
  for (const [i, f] of FILES.entries()) {
    fs.mkdirSync(path.dirname(path.join(ds, f)), { recursive: true });
    await sharp({ create: { width: 20, height: 20, channels: 3, background: { r: 30 * i, g: 200 - 20 * i, b: 90 } } })
      .png()
      .toFile(path.join(ds, f));
  }
});

describe('mopro job: the job folder', () => {
  it('holds the file list, classes, the engine config, the trainer and both launchers', async () => {
    const out = path.join(tmp, 'job');
    const r = await writeJob({ dataset: ds, out, epochs: 4, batchSize: 4, imageSize: 16, cpu: true });
    expect(r.files).toBe(FILES.length);
    const rows = parseCsv(fs.readFileSync(path.join(out, 'files.csv'), 'utf8'), JOB_FILES_HEADER);
    expect(fs.readFileSync(path.join(out, 'files.csv'), 'utf8').split('\n')[0]).toBe(JOB_FILES_HEADER.join(','));
    expect(rows.map((x) => x.path).sort()).toEqual([...FILES].sort());
    const classes = JSON.parse(fs.readFileSync(path.join(out, 'classes.json'), 'utf8'));
    expect(classes).toEqual(['cat', 'dog', 'fox']);
    for (const x of rows) expect(classes[Number(x.label_index)]).toBe(x.label);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    // the engine's field names, as resolveConfig produced them
    for (const k of [
      'method',
      'arch',
      'epochs',
      'batchSize',
      'imageSize',
      'channels',
      'lr',
      'tau',
      'alpha',
      'threshold',
      'finalThreshold',
      'keyMomentum',
      'protoMomentum',
      'queueSize',
      'cleanStartEpoch',
      'protoInit',
      'wIns',
      'cropScaleMin',
    ])
      expect(cfg).toHaveProperty(k);
    // the engine caps the batch at a power of two <= N/4 (8 images: 2)
    expect([cfg.epochs, cfg.batchSize, cfg.imageSize]).toEqual([4, 2, 16]);
    expect(cfg.queueSize % cfg.batchSize).toBe(0);
    expect(cfg.archSpec.stages.length).toBeGreaterThan(0);
    expect(cfg.padding).toBe(cfg.archSpec.torchPad ? 'torch' : 'tf-same');
    expect(cfg.dataset).toMatchObject({
      root: path.resolve(ds),
      classes: ['cat', 'dog', 'fox'],
      counts: [3, 3, 2],
      images: 8,
    });
    for (const f of [
      '__init__.py',
      '__main__.py',
      'train.py',
      'cleaning.py',
      'model.py',
      'data.py',
      'dist.py',
      'runfolder.py',
      'safetensors_io.py',
    ]) {
      expect(fs.existsSync(path.join(out, 'mopro_ddp', f)), f).toBe(true);
    }
    for (const f of ['train.sh', 'launch_local.sh']) {
      expect(fs.statSync(path.join(out, f)).mode & 0o111).not.toBe(0);
      expect(spawnSync('bash', ['-n', path.join(out, f)]).status).toBe(0);
    }
    expect(fs.readFileSync(path.join(out, 'README.md'), 'utf8')).toContain('SLURM');
    const sh = fs.readFileSync(path.join(out, 'train.sh'), 'utf8');
    for (const v of ['NPROC', 'NNODES', 'NODE_RANK', 'MASTER_ADDR', 'MASTER_PORT', 'torch.distributed.run'])
      expect(sh).toContain(v);
  });

  it('refuses a non-empty folder, a folder inside the dataset and an arch the trainer cannot build', async () => {
    const used = path.join(tmp, 'used');
    fs.mkdirSync(used);
    fs.writeFileSync(path.join(used, 'x.txt'), 'mine');
    await expect(writeJob({ dataset: ds, out: used })).rejects.toThrow(/not empty/);
    expect(fs.readFileSync(path.join(used, 'x.txt'), 'utf8')).toBe('mine');
    await expect(writeJob({ dataset: ds, out: path.join(ds, 'job') })).rejects.toThrow(/inside the dataset/);
    expect(fs.existsSync(path.join(ds, 'job'))).toBe(false);
    await expect(writeJob({ dataset: ds, out: path.join(tmp, 'dn'), arch: 'densenet121' })).rejects.toThrow(
      /ResNets only/,
    );
  });
});

describe('mopro import-official', () => {
  it('matches paths by their longest unique trailing part', () => {
    const ix = suffixIndex(FILES);
    expect(matchPath('cat/b.png', ix)).toBe(FILES.indexOf('cat/b.png'));
    expect(matchPath('/data/webvision/dog/d.png', ix)).toBe(FILES.indexOf('dog/d.png'));
    expect(matchPath('google\\q0001\\e.png', ix)).toBe(FILES.indexOf('dog/e.png'));
    expect(matchPath('x/cat/a.png', ix)).toBe(FILES.indexOf('cat/a.png'));
    expect(matchPath('a.png', ix)).toBe('ambiguous');
    expect(matchPath('nothing/here.png', ix)).toBeNull();
  });

  it('writes clean / relabeled / ood by comparison with the folder labels and reports unmatched paths', async () => {
    const json = path.join(tmp, 'pseudo_label.json');
    // labels index the sorted class folders: 0 cat, 1 dog, 2 fox
    fs.writeFileSync(
      json,
      JSON.stringify({
        images: [
          '/mnt/web/cat/b.png',
          'cat/sub/c.png',
          'dog/d.png',
          'x/dog/a.png',
          'fox/f.png',
          'a.png',
          'gone/z.png',
          'dog/d.png',
        ],
        labels: [0, 1, 1, 1, 2, 0, 0, 0],
      }),
    );
    const out = path.join(tmp, 'imported');
    const r = await importOfficial({ cleaned: json, dataset: ds, out });
    const rows = new Map(
      parseCsv(fs.readFileSync(path.join(out, 'samples.csv'), 'utf8'), SAMPLES_HEADER).map((x) => [x.path, x]),
    );
    expect(fs.readFileSync(path.join(out, 'samples.csv'), 'utf8').split('\n')[0]).toBe(SAMPLES_HEADER.join(','));
    expect(rows.size).toBe(FILES.length);
    expect(rows.get('cat/b.png')).toMatchObject({ status: 'clean', corrected_label: 'cat' });
    expect(rows.get('cat/sub/c.png')).toMatchObject({
      status: 'relabeled',
      corrected_label: 'dog',
      given_label: 'cat',
    });
    expect(rows.get('dog/a.png')).toMatchObject({ status: 'clean', corrected_label: 'dog' });
    for (const p of ['cat/a.png', 'dog/e.png', 'fox/g.png'])
      expect(rows.get(p)).toMatchObject({ status: 'ood', corrected_label: '' });
    expect(r.counts).toEqual({ clean: 4, relabeled: 1, ood: 3 });
    expect(r.unmatched).toEqual(['gone/z.png']);
    expect(r.ambiguous).toEqual(['a.png']);
    expect(r.duplicates).toBe(1);
    expect(fs.readFileSync(path.join(out, UNMATCHED_TXT), 'utf8')).toBe('unmatched\tgone/z.png\nambiguous\ta.png\n');
    const j = JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8'));
    expect(j.dataset).toBe(path.resolve(ds));
    expect(j.counts).toEqual(r.counts);
    expect(j.import).toMatchObject({ entries: 8, matched: 5, unmatched: 1, ambiguous: 1, duplicates: 1 });
    // the app reads it like any run folder
    const { readSamples, runClasses, runSummary } = await import('./runs');
    expect(readSamples(out)).toHaveLength(FILES.length);
    expect(runClasses(out)).toEqual(['cat', 'dog', 'fox']);
    expect(runSummary(out, 'x').state).toBe('done');
    expect(runSummary(out, 'x').error).toBeUndefined(); // its run.json fits the shared schema
  });

  it('reads labels through --classes and refuses bad input with the file and the fix', async () => {
    const json = path.join(tmp, 'c.json');
    fs.writeFileSync(json, JSON.stringify({ images: ['cat/b.png', 'fox/g.png'], labels: [1, 0] }));
    const cls = path.join(tmp, 'classes.txt');
    fs.writeFileSync(cls, 'fox\ncat\n'); // the official run's own order
    const r = await importOfficial({ cleaned: json, dataset: ds, out: path.join(tmp, 'imp2'), classes: cls });
    expect(r.counts).toEqual({ clean: 2, relabeled: 0, ood: 6 });
    const bad = path.join(tmp, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ images: ['cat/b.png'], labels: [7] }));
    await expect(importOfficial({ cleaned: bad, dataset: ds, out: path.join(tmp, 'imp3') })).rejects.toThrow(
      /label index 7.*--classes/,
    );
    fs.writeFileSync(bad, JSON.stringify({ images: ['cat/b.png', 'x.png'], labels: [0] }));
    await expect(importOfficial({ cleaned: bad, dataset: ds, out: path.join(tmp, 'imp3') })).rejects.toThrow(
      /2 images but 1 labels/,
    );
    fs.writeFileSync(bad, '{"images": [');
    await expect(importOfficial({ cleaned: bad, dataset: ds, out: path.join(tmp, 'imp3') })).rejects.toThrow(
      new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}.*noise_cleaning`),
    );
    fs.writeFileSync(bad, JSON.stringify({ images: ['elsewhere/q.png'], labels: [0] }));
    await expect(importOfficial({ cleaned: bad, dataset: ds, out: path.join(tmp, 'imp3') })).rejects.toThrow(
      /none of its 1 paths/,
    );
    expect(fs.existsSync(path.join(tmp, 'imp3'))).toBe(false);
    await expect(importOfficial({ cleaned: json, dataset: ds, out: path.join(ds, 'run') })).rejects.toThrow(
      /inside the dataset/,
    );
  });
});
