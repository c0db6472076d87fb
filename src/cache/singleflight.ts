/**
 * One call per key at a time; callers that arrive while it runs share its result.
 * The TypeScript twin of golang/groupcache's singleflight/singleflight.go.
 */
export class SingleFlight<T> {
  readonly #calls = new Map<string, Promise<T>>();

  /** `shared` is true when this caller joined a call already in flight. */
  do(key: string, fn: () => Promise<T>): { promise: Promise<T>; shared: boolean } {
    const inflight = this.#calls.get(key);
    if (inflight !== undefined) return { promise: inflight, shared: true };
    const promise = fn().finally(() => {
      this.#calls.delete(key);
    });
    this.#calls.set(key, promise);
    return { promise, shared: false };
  }

  /** Keys with a call in flight. */
  keys(): IterableIterator<string> {
    return this.#calls.keys();
  }

  get size(): number {
    return this.#calls.size;
  }
}
