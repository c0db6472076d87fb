/**
 * In the primary: one question to one worker over IPC, matched to its reply by id. Resolves
 * with the reply, with undefined if the worker exits (or is not connected) first, and rejects
 * when it does not answer in time, so one stuck worker cannot hold an answer that needs all.
 */
import type { Worker } from 'node:cluster';
import type { ToWorker } from './messages.js';

export class WorkerQuestions<Reply> {
  #next = 0;
  readonly #waiting = new Map<number, (reply: Reply) => void>();

  /** A worker's reply to question `id` arrived. */
  received(id: number, reply: Reply): void {
    this.#waiting.get(id)?.(reply);
  }

  /** Sends `question(id)` to `worker`; waits at most `timeoutMs` for the reply. */
  ask(worker: Worker, question: (id: number) => ToWorker, timeoutMs: number): Promise<Reply | undefined> {
    return new Promise((resolve, reject) => {
      const id = this.#next++;
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        worker.off('exit', onExit);
        this.#waiting.delete(id);
        settle();
      };
      const onExit = () => finish(() => resolve(undefined));
      const timer = setTimeout(() => finish(() => reject(new Error(`worker ${worker.process.pid} did not answer within ${timeoutMs} ms`))), timeoutMs);
      this.#waiting.set(id, (reply) => finish(() => resolve(reply)));
      worker.once('exit', onExit);
      if (!worker.isConnected()) {
        onExit();
        return;
      }
      worker.send(question(id));
    });
  }
}
