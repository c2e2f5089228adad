// The human decisions a training run is given ({ fixedLabels: {path: class}, excluded: [path] }) and the
// decisions.json kept beside the run, so a resume trains with the same ones. The app (train.start /
// train.resume) and the CLI (--decisions, --use-decisions, --resume) both read and write it here.
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { DECISIONS_JSON } from '../../src-shared/run-format';
import type { TrainOptions } from '../engine/types';

export type RunDecisions = Required<Pick<TrainOptions, 'fixedLabels' | 'excluded'>>;

const DecisionsFile = z.object({
  fixedLabels: z.record(z.string(), z.string()).optional(),
  excluded: z.array(z.string()).optional(),
});
const EXPECTED = 'expected JSON {"fixedLabels": {"<path>": "<class>"}, "excluded": ["<path>"]}';

/** A decisions file (a user's --decisions file or a run's side file), checked; errors name the file and the shape. */
export function readDecisionsFile(file: string): RunDecisions {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}; ${EXPECTED}`);
  }
  const parsed = DecisionsFile.safeParse(raw);
  if (!parsed.success)
    throw new Error(
      `${file}: ${parsed.error.issues[0]?.path.join('.') || 'top level'}: ${parsed.error.issues[0]?.message}; ${EXPECTED}`,
    );
  return { fixedLabels: parsed.data.fixedLabels ?? {}, excluded: parsed.data.excluded ?? [] };
}

/** Keeps the decisions beside the run (creating its folder); returns them with both fields present. */
export function writeRunDecisions(runDir: string, dec: Partial<RunDecisions>): RunDecisions {
  const out = { fixedLabels: dec.fixedLabels ?? {}, excluded: dec.excluded ?? [] };
  fs.mkdirSync(runDir, { recursive: true });
  fs.writeFileSync(path.join(runDir, DECISIONS_JSON), JSON.stringify(out));
  return out;
}

/** The decisions a run was started with, or null when it was trained without any. */
export function readRunDecisions(runDir: string): RunDecisions | null {
  const file = path.join(runDir, DECISIONS_JSON);
  return fs.existsSync(file) ? readDecisionsFile(file) : null;
}
