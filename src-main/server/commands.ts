// `mopro serve` and `mopro export` (wired into src-main/cli.ts by the lead).
import fs from 'node:fs';
import path from 'node:path';
import { appDataDir } from '../paths';
import { Project, projectDir } from '../project/project';
import { checkExportNames, checkTarget, exportDataset, type ExportMode, type ExportResult } from '../project/export';
import { startServer, type RunningServer, type StartServerOptions } from './server';

/** Starts browser mode, prints the URL (with token) and stops cleanly on Ctrl-C / SIGTERM. */
export async function serveCommand(
  o: { port?: number | string; dataset?: string; staticDir?: string } = {},
): Promise<RunningServer> {
  const port = o.port === undefined ? undefined : Number(o.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535))
    throw new Error(`--port ${o.port}: give a number from 0 to 65535`);
  const srv = await startServer({ port, dataset: o.dataset, staticDir: o.staticDir } satisfies StartServerOptions);
  process.stdout.write(`MoPro Studio is running (127.0.0.1 only). Open:\n  ${srv.url}\n`);
  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    srv.close().finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return srv;
}

/**
 * Writes the cleaned dataset of a project: `source` is a dataset folder (its decisions apply), a run
 * folder, or a project id known to this machine.
 */
export async function exportCommand(o: {
  source: string;
  to: string;
  mode: ExportMode;
  includeOod: boolean;
}): Promise<ExportResult> {
  const dataDir = appDataDir();
  let src = o.source;
  if (!fs.existsSync(src)) {
    const meta = path.join(projectDir(dataDir, path.basename(src)), 'project.json');
    if (!fs.existsSync(meta)) throw new Error(`${o.source}: no such dataset folder, run folder or project id`);
    src = JSON.parse(fs.readFileSync(meta, 'utf8')).root;
  }
  const prj = await Project.open(path.resolve(src), dataDir, undefined, { readOnly: true }); // reads only: never blocks the app
  try {
    checkTarget(path.resolve(o.to), prj.root); // refuse before printing anything else
    checkExportNames(prj.exportRows(), o.mode, o.includeOod);
    if (!prj.activeRun)
      process.stderr.write(`note: ${prj.root} has no finished run; exporting folder labels with your decisions\n`);
    let last = 0;
    const r = await exportDataset({
      rows: prj.exportRows(),
      datasetRoot: prj.root,
      to: path.resolve(o.to),
      mode: o.mode,
      includeOod: o.includeOod,
      onProgress: (done, total) => {
        const now = Date.now();
        if (process.stderr.isTTY && (now - last > 200 || done === total)) {
          last = now;
          process.stderr.write(`\rexport ${done}/${total}`);
        }
      },
    });
    if (process.stderr.isTTY) process.stderr.write('\n');
    process.stdout.write(
      `exported ${r.files} files${r.ood ? ` (${r.ood} OOD in _ood/)` : ''} to ${r.dir}; manifest ${r.manifest}\n`,
    );
    const s = r.summary;
    const empty = prj.scan.classes.filter((c) => !s.perClass.some((x) => x.label === c && x.count > 0));
    process.stdout.write(
      `per class: ${s.perClass.map((c) => `${c.label} ${c.count}`).join(', ')}${empty.length ? `; empty: ${empty.join(', ')}` : ''}\n`,
    );
    if (s.bySource.model)
      process.stdout.write(
        `${s.bySource.model} of ${s.manifestRows} labels are unreviewed model guesses (source=model)\n`,
      );
    return r;
  } finally {
    prj.close();
  }
}
