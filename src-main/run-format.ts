// Moved to src-shared/run-format.ts; this re-export goes once every importer points there.
export * from '../src-shared/run-format';
