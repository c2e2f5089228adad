// The projects the service has open, by id: opening a dataset folder (with a scan that projects.cancelOpen can
// stop), reopening one remembered in the data folder after a restart, and the decisions.changed event.
import fs from 'node:fs';
import path from 'node:path';
import type { ApiEvent } from '../../src-shared/contract';
import { ApiError } from './service-types';
import { Project, projectDir, type Scanner } from '../project/project';
import type { ScanOptions } from '../dataset/scan';

export interface ProjectRegistry {
  /** Opens (or reopens) the dataset folder `p`; a reopen replaces the project object under the same id. */
  openPath(p: string, scan?: ScanOptions): Promise<Project>;
  /** An open project, or one opened before (project.json remembers its folder), e.g. after a restart. */
  project(id: string): Promise<Project>;
  /** The open project with this id, without reopening it. */
  get(id: string): Project | undefined;
  all(): Iterable<Project>;
  /** Registers a scan in flight for `folder`, so cancelOpen can stop it; call the returned function when done. */
  trackScan(folder: string, ac: AbortController): () => void;
  /** Stops the scans in flight for this folder; how many. */
  cancelOpen(folder: string): number;
  /** Emits decisions.changed with the project's counts, and returns them. */
  decisionsEvent(p: Project): { reviewed: number; canUndo: boolean; canRedo: boolean };
  closeAll(): void;
}

export function createProjectRegistry(opts: {
  dataDir: string;
  scanner: Scanner;
  emit: (e: ApiEvent) => void;
  /** A reopen replaced `old` by `prj`: whoever holds the old object (a training run) moves to the new one. */
  onReopen: (old: Project, prj: Project) => void;
}): ProjectRegistry {
  const projects = new Map<string, Project>();
  const opening = new Map<string, Promise<Project>>();
  const scansInFlight = new Map<AbortController, string>();

  async function openPath(p: string, scan?: ScanOptions): Promise<Project> {
    const prj = await Project.open(p, opts.dataDir, opts.scanner, scan ? { scan } : {});
    const old = projects.get(prj.id);
    if (old && old !== prj) {
      // Reopen: keep the live training state, release the old journal handle.
      for (const [k, v] of old.live) prj.live.set(k, v);
      opts.onReopen(old, prj);
      old.close();
    }
    projects.set(prj.id, prj);
    for (const w of prj.warnings) console.warn(w);
    return prj;
  }

  function decisionsEvent(p: Project): { reviewed: number; canUndo: boolean; canRedo: boolean } {
    const s = { reviewed: p.reviewed, canUndo: p.journal.canUndo, canRedo: p.journal.canRedo };
    opts.emit({ type: 'decisions.changed', projectId: p.id, ...s });
    return s;
  }

  async function project(id: string): Promise<Project> {
    const p = projects.get(id);
    if (p) {
      if (p.sync()) decisionsEvent(p); // read-only: the other writer's news, or the lock it left
      return p;
    }
    if (!/^[a-z0-9-]+$/.test(id)) throw new ApiError('NOT_FOUND', `no project "${id}"`);
    let root: string;
    try {
      root = JSON.parse(fs.readFileSync(path.join(projectDir(opts.dataDir, id), 'project.json'), 'utf8')).root;
    } catch {
      throw new ApiError('NOT_FOUND', `no project "${id}": open its dataset folder first`);
    }
    let pending = opening.get(id);
    if (!pending) {
      pending = openPath(root).finally(() => opening.delete(id));
      opening.set(id, pending);
    }
    return pending;
  }

  return {
    openPath,
    project,
    get: (id) => projects.get(id),
    all: () => projects.values(),
    trackScan(folder, ac) {
      scansInFlight.set(ac, folder);
      return () => scansInFlight.delete(ac);
    },
    cancelOpen(folder) {
      let cancelled = 0;
      for (const [ac, where] of scansInFlight)
        if (where === folder) {
          ac.abort();
          cancelled++;
        }
      return cancelled;
    },
    decisionsEvent,
    closeAll() {
      for (const p of projects.values()) p.close();
      projects.clear();
    },
  };
}
