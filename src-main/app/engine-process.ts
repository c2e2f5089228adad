// The Electron app runs engine jobs in utilityProcess children: a packaged app cannot use
// child_process.fork (its binary does not run as Node: the runAsNode fuse is off), and a utility
// process dying (native abort, out of memory) leaves the window and the API up. Only the type is
// taken from 'electron' here, so this adapter is testable without it (main.ts passes the real one).
import type { UtilityProcess } from 'electron';
import type { FromJob, SpawnJob } from '../engine/job-runner';

/** The part of Electron's `utilityProcess` module the adapter uses. */
export interface UtilityProcessModule {
  fork(
    modulePath: string,
    args?: string[],
    options?: { serviceName?: string; stdio?: 'pipe' | 'ignore' | 'inherit' | Array<'pipe' | 'ignore' | 'inherit'> },
  ): Pick<UtilityProcess, 'postMessage' | 'on' | 'kill' | 'stderr'>;
}

export function utilityProcessSpawner(up: UtilityProcessModule): SpawnJob {
  return (entry) => {
    if (entry.ts) throw new Error(`the engine job ${entry.file} is TypeScript: build the app first (npm run build)`);
    const child = up.fork(entry.file, [], { serviceName: 'MoPro Studio engine', stdio: ['ignore', 'inherit', 'pipe'] });
    let exited = false;
    return {
      send: (m) => {
        if (!exited) child.postMessage(m);
      },
      onMessage: (cb) => {
        child.on('message', (m: unknown) => cb(m as FromJob));
      },
      // utilityProcess reports an exit code only; a native abort shows as a non-zero code.
      onExit: (cb) => {
        child.on('exit', (code: number) => {
          exited = true;
          cb(code, null);
        });
      },
      onStderr: (cb) => {
        child.stderr?.setEncoding('utf8');
        child.stderr?.on('data', (s: string) => {
          process.stderr.write(s);
          cb(s);
        });
      },
      kill: () => {
        if (!exited) child.kill();
      },
    };
  };
}
