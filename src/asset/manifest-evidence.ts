/**
 * Build manifests at the origin's root as evidence of immutability (immutability.ts, step 4):
 *  - `manifest.json` written by `hashedge upload`: every entry with `"immutable": true`;
 *  - Vite's `.vite/manifest.json` (Vite 5+; `manifest.json` before): every `file`, `css` and
 *    `assets` path, which Vite names `[name]-[hash]` (it writes the manifest for servers that
 *    need the hashed names, build.manifest: true).
 * They are read from the origin itself (never through peers) at start and every `intervalMs`
 * after, so a deploy's new manifest is seen without a restart. A manifest that cannot be read
 * keeps what was read before; one that is gone (404) counts as empty.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../log.js';
import type { Origin } from '../origin/origin.js';
import { getWithTimeout } from '../origin/timeout.js';
import type { ManifestLookup } from './immutability.js';

/** The manifests read, by origin key. */
export const MANIFEST_KEYS = ['manifest.json', '.vite/manifest.json'] as const;
/** Larger manifests are refused (memory stays bounded whatever the origin holds). */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
/** How often manifests are read again. @default 30 s */
export const MANIFEST_INTERVAL_MS = 30_000;

export interface ManifestEvidenceOptions {
  readonly origin: Origin;
  /** ms one read may take. */
  readonly timeoutMs: number;
  readonly log: Logger;
  /** ms between reads. @default MANIFEST_INTERVAL_MS */
  readonly intervalMs?: number;
}

/** The immutable paths one manifest lists, or null when it is not a manifest we know. */
export function pathsInManifest(text: string): { kind: 'hashedge' | 'vite'; paths: string[] } | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  const record = parsed as Record<string, unknown>;
  const paths: string[] = [];
  if (typeof record['version'] === 'number' && typeof record['assets'] === 'object' && record['assets'] !== null) {
    for (const entry of Object.values(record['assets'] as Record<string, unknown>)) {
      const e = entry as { path?: unknown; immutable?: unknown } | null;
      if (e !== null && typeof e === 'object' && e.immutable === true && typeof e.path === 'string') paths.push(e.path);
    }
    return { kind: 'hashedge', paths };
  }
  // Vite: { "<source>": { "file": "assets/x-<hash>.js", "css": [...], "assets": [...] }, ... }
  const chunks = Object.values(record);
  if (chunks.length === 0 || !chunks.every((c) => typeof c === 'object' && c !== null && typeof (c as { file?: unknown }).file === 'string')) return null;
  for (const chunk of chunks as Array<{ file: string; css?: unknown; assets?: unknown }>) {
    paths.push(chunk.file);
    for (const list of [chunk.css, chunk.assets]) {
      if (Array.isArray(list)) for (const p of list) if (typeof p === 'string') paths.push(p);
    }
  }
  return { kind: 'vite', paths };
}

export class ManifestEvidence implements ManifestLookup {
  readonly #options: ManifestEvidenceOptions;
  /** Key -> the manifest that lists it. */
  #listed = new Map<string, string>();
  /** Per manifest key: the SHA-256 of what was read, and what it listed. */
  readonly #read = new Map<string, { sha256: string; paths: readonly string[] }>();
  #timer: NodeJS.Timeout | undefined;
  /** The first read of every manifest, settled (successful or not). */
  readonly firstRead: Promise<void>;

  constructor(options: ManifestEvidenceOptions) {
    this.#options = options;
    this.firstRead = this.refresh();
  }

  listing(key: string): string | undefined {
    return this.#listed.get(key);
  }

  /** How many keys the manifests list now. */
  get size(): number {
    return this.#listed.size;
  }

  /** Reads every manifest again now. Never rejects: failures are logged and keep the old word. */
  async refresh(): Promise<void> {
    await Promise.all(MANIFEST_KEYS.map((key) => this.#readOne(key)));
    const listed = new Map<string, string>();
    for (const [manifest, { paths }] of this.#read) for (const path of paths) if (!listed.has(path)) listed.set(path, manifest);
    this.#listed = listed;
  }

  /** Re-reads every intervalMs until stop(). */
  start(): void {
    const interval = this.#options.intervalMs ?? MANIFEST_INTERVAL_MS;
    this.#timer = setInterval(() => void this.refresh(), interval);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async #readOne(key: string): Promise<void> {
    const { origin, timeoutMs, log } = this.#options;
    let text: string;
    try {
      const object = await getWithTimeout(origin, key, { timeoutMs });
      if (object === null) {
        if (this.#read.delete(key)) log.info({ event: 'manifest_gone', manifest: key });
        return;
      }
      if (object.size > MAX_MANIFEST_BYTES) {
        object.body.destroy();
        log.warn({ event: 'manifest_too_large', manifest: key, bytes: object.size, max: MAX_MANIFEST_BYTES });
        return;
      }
      const chunks: Buffer[] = [];
      let bytes = 0;
      for await (const chunk of object.body) {
        bytes += (chunk as Buffer).length;
        if (bytes > MAX_MANIFEST_BYTES) {
          object.body.destroy();
          log.warn({ event: 'manifest_too_large', manifest: key, max: MAX_MANIFEST_BYTES });
          return;
        }
        chunks.push(chunk as Buffer);
      }
      text = Buffer.concat(chunks).toString('utf8');
    } catch (err) {
      log.warn({ event: 'manifest_unreadable', manifest: key, err: String((err as Error)?.message ?? err) });
      return;
    }
    const sha256 = createHash('sha256').update(text).digest('hex');
    if (this.#read.get(key)?.sha256 === sha256) return;
    const found = pathsInManifest(text);
    // manifest.json may be a web app manifest, not a build's: it then lists nothing.
    this.#read.set(key, { sha256, paths: found?.paths ?? [] });
    if (found !== null) log.info({ event: 'manifest_loaded', manifest: key, kind: found.kind, immutable: found.paths.length });
  }
}
