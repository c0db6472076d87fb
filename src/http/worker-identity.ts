/**
 * Which worker of a multi-worker node answered. Its own module, free of Express, so that the
 * library's declarations (dist/edge.d.ts, reached from dist/index.d.ts) do not need
 * @types/express, a dev dependency, in the app that installs hashedge.
 */
export interface WorkerIdentity {
  /** 0 to workers - 1; a replaced worker keeps its index (and ring member). */
  readonly index: number;
  readonly pid: number;
}
