// End to end through the public entry (worker thread): train on the bundled sample, stop + resume,
// the run folder contract of design.md §3, and predict.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { predict, startTraining, type EngineEvent } from '../index';
import { parseCsv } from '../../util/csv';
import {
  EMBEDDINGS_F32,
  PREDICTIONS_HEADER,
  PROTOTYPES_F32,
  Q_F32,
  SAMPLES_HEADER,
} from '../../../src-shared/run-format';
import { parseRunJson } from '../../../src-shared/run-json';

const sample = path.resolve(__dirname, '../../../resources/sample');
/** images in the bundled sample (one line each in its truth file) */
const SAMPLE_N = fs.readFileSync(`${sample}.truth.jsonl`, 'utf8').trim().split('\n').length;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mopro-run-'));
const cacheDir = path.join(tmp, 'cache');

describe('engine end to end (worker thread, wasm)', () => {
  it('stop() after a step writes a checkpoint and resolves stopped; resume finishes the run folder', async () => {
    const out = path.join(tmp, 'run');
    const events: EngineEvent[] = [];
    let stopAsked = false;
    const h = startTraining(
      { dataset: sample, out, method: 'mopro', epochs: 2, batchSize: 32, backend: 'wasm', cacheDir },
      (e) => {
        events.push(e);
        if (e.type === 'step' && !stopAsked) {
          stopAsked = true;
          h.stop();
        }
      },
    );
    const r1 = await h.done;
    expect(r1.state).toBe('stopped');
    expect(fs.existsSync(path.join(out, 'checkpoint', 'checkpoint.json'))).toBe(true);
    expect(events.find((e) => e.type === 'backend')).toMatchObject({ name: 'wasm' });
    expect(JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8')).state).toBe('stopped');

    const ev2: EngineEvent[] = [];
    const r2 = await startTraining(
      { dataset: sample, out, method: 'mopro', backend: 'wasm', resume: true, cacheDir },
      (e) => ev2.push(e),
    ).done;
    expect(r2.state).toBe('done');
    expect(r2.epochsDone).toBe(2);
    expect(ev2.some((e) => e.type === 'log' && /resumed at epoch 1, step [1-9]/.test(e.message))).toBe(true);

    const rows = parseCsv(fs.readFileSync(path.join(out, 'samples.csv'), 'utf8'), SAMPLES_HEADER, 'samples.csv');
    expect(fs.readFileSync(path.join(out, 'samples.csv'), 'utf8').split('\n')[0]).toBe(SAMPLES_HEADER.join(','));
    expect(rows).toHaveLength(SAMPLE_N);
    for (const r of rows) {
      expect(['clean', 'relabeled', 'ood']).toContain(r.status);
      expect(r.given_label).toBe(r.path.split('/')[0]);
      if (r.status === 'ood') expect(r.corrected_label).toBe('');
      if (r.status === 'clean') expect(r.corrected_label).toBe(r.given_label);
      if (r.status === 'relabeled') expect(r.corrected_label).not.toBe(r.given_label);
      const c = Number(r.confidence),
        o = Number(r.ood_score);
      expect(c).toBeGreaterThanOrEqual(0);
      expect(c).toBeLessThanOrEqual(1);
      expect(o).toBeGreaterThanOrEqual(0);
      expect(o).toBeLessThanOrEqual(1);
    }
    expect(r2.counts.clean + r2.counts.relabeled + r2.counts.ood).toBe(SAMPLE_N);
    expect(fs.statSync(path.join(out, Q_F32)).size).toBe(SAMPLE_N * 10 * 4);
    expect(fs.statSync(path.join(out, EMBEDDINGS_F32)).size).toBe(SAMPLE_N * 128 * 4);
    expect(fs.statSync(path.join(out, PROTOTYPES_F32)).size).toBe(10 * 128 * 4);
    // what the engine writes fits the shared schema the app reads it with
    const run = parseRunJson(fs.readFileSync(path.join(out, 'run.json'), 'utf8'), path.join(out, 'run.json'), out);
    expect(run.state).toBe('done');
    expect(run.backend.name).toBe('wasm');
    expect(run.datasetSummary.classes).toHaveLength(10);
    expect(run.epochs).toHaveLength(2);
    expect(run.epochs[1].imagesPerSec).toBeGreaterThan(0);
    expect(run.adaptations?.length).toBeGreaterThan(3);

    const pred = path.join(tmp, 'pred.csv');
    const p = await predict({ run: out, folder: path.join(sample, 'Bag'), out: pred, backend: 'wasm', cacheDir });
    const prow = parseCsv(fs.readFileSync(pred, 'utf8'), PREDICTIONS_HEADER, 'predictions.csv');
    expect(p.count).toBe(fs.readdirSync(path.join(sample, 'Bag')).length);
    expect(prow).toHaveLength(p.count);
    expect(prow[0].path.includes('/')).toBe(false); // relative to the predicted folder
    expect(run.datasetSummary.classes).toContain(prow[0].predicted_label);
  }, 300_000);

  it('bad dataset folder: one clear error, no crash', async () => {
    await expect(
      startTraining(
        { dataset: path.join(tmp, 'nope'), out: path.join(tmp, 'r2'), method: 'ce', backend: 'wasm' },
        () => {},
      ).done,
    ).rejects.toThrow(/nope/);
  }, 60_000);
});
