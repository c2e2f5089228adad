// Moved to src-shared/contract.ts (what both processes use); this re-export goes once every importer points there.
export * from '../../src-shared/contract';
