// The run folder contract of design.md §3, in one place: file names and CSV headers that the
// engine writes and the project/server/export code and the benchmark read.
export const SAMPLES_CSV = 'samples.csv';
export const SAMPLES_HEADER = ['path', 'given_label', 'corrected_label', 'status', 'confidence', 'ood_score'] as const;
export const PREDICTIONS_HEADER = ['path', 'predicted_label', 'confidence', 'ood_score'] as const;
export const RUN_JSON = 'run.json';
export const MODEL_DIR = 'model';
/** Float32 little-endian arrays, rows in samples.csv order. */
export const ARRAYS_DIR = 'arrays';
export const Q_F32 = 'arrays/q.f32'; //                   N x K cleaned soft labels (the q_i of mopro.md §2)
export const EMBEDDINGS_F32 = 'arrays/embeddings.f32'; // N x 128 L2-normalised embeddings
export const PROTOTYPES_F32 = 'arrays/prototypes.f32'; // K x 128 prototypes
export const CHECKPOINT_DIR = 'checkpoint';
/** Human decisions a run was trained with ({ fixedLabels, excluded }), so a resume or cRT uses the same ones. */
export const DECISIONS_JSON = 'decisions.json';
