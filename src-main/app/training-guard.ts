// Knows which training runs are live (from the API's events and results) so that closing the
// window can ask "stop (with a checkpoint) or keep training in the background?".
import type { ApiEvent } from '../../src-shared/contract';

export class TrainingTracker {
  private readonly live = new Set<string>();
  private waiters: { resolve: () => void }[] = [];

  /** Feed every API event through here. */
  onEvent(e: ApiEvent): void {
    if (e.type === 'train.progress' || e.type === 'train.epoch') this.live.add(e.runId);
    else if (e.type === 'train.done') {
      this.live.delete(e.runId);
      if (this.live.size === 0) this.flush();
    }
  }

  /** train.start / train.resume results: the run is live before its first progress event. */
  onStarted(runId: string): void {
    this.live.add(runId);
  }

  running(): string[] {
    return [...this.live];
  }

  /** Resolves when no run is live, or after `timeoutMs` (then false). */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.live.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = {
        resolve: () => {
          clearTimeout(t);
          resolve(true);
        },
      };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        resolve(false);
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  private flush(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w.resolve();
  }
}

export type CloseChoice = 'stop' | 'background' | 'cancel';

/** The question asked when the window closes during training (a message box's options). */
export function closeDialog(running: number) {
  return {
    type: 'question' as const,
    title: 'Training in progress',
    message: running === 1 ? 'A training run is still in progress.' : `${running} training runs are still in progress.`,
    detail:
      'Stop: the run saves a checkpoint and stops; resume it later from the Train panel.\n' +
      'Keep training: the window closes and training continues in the background; ' +
      'start MoPro Studio again to bring the window back.',
    buttons: ['Stop Training and Quit', 'Keep Training in Background', 'Cancel'],
    defaultId: 0,
    cancelId: 2,
    noLink: true,
  };
}

export function closeChoice(response: number): CloseChoice {
  return response === 0 ? 'stop' : response === 1 ? 'background' : 'cancel';
}
