// Scores a run with the shared evaluator (../shared/bench/evaluate.mjs): samples.csv against the ground truth,
// predictions.csv on the clean test folder. Used by every benchmark script.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const shared = path.resolve(import.meta.dirname, '..', '..', 'shared');

/** The evaluator's JSON report (test_top1, cleaned_label_acc, noise.{precision,recall,f1}, ood.auroc, ...), read loosely by the scripts. */
export function evaluate(truth: string, samples: string, predictions: string): any {
  const r = spawnSync(
    process.execPath,
    [
      path.join(shared, 'bench', 'evaluate.mjs'),
      '--truth',
      truth,
      '--samples',
      samples,
      '--predictions',
      predictions,
      '--json',
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`evaluate.mjs failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}
