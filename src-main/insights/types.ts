// Result shapes of the insights.* API methods live in the one contract (src-shared/contract.ts,
// block "---- insights"); re-exported here for the insights modules.
export type {
  ClassDelta,
  ClassHealth,
  ClassHealthRow,
  Confusion,
  DuplicatePairInfo,
  DuplicateSide,
  Duplicates,
  EmbeddingMap,
  InsightsProgress,
  RunInsight,
} from '../../src-shared/contract';
