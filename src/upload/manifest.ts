/**
 * manifest.json: what `hashedge upload` put where. Bundler plugins and server frameworks look
 * up an original path and get the hashed one (or its URL); `hashedge serve` reads the one at
 * the origin's root for an example URL. The form (version 1):
 *
 *   { "version": 1,
 *     "assets": { "<original path>": { "path": "<path at the target>", "url": "<base-url>/<path>",
 *                                      "size": <bytes>, "sha256": "<hex>",
 *                                      "immutable": true|false, "integrity": "sha384-<base64>" } } }
 *
 * `path` is the original path unless upload renamed the file. `immutable`: uploaded with
 * `Cache-Control: public, max-age=31536000, immutable` (the edge takes the manifest at its
 * origin's root as evidence for these paths, asset/manifest-evidence.ts); false: `no-cache`.
 * `integrity` is the Subresource Integrity of the bytes, for `<script integrity>`. Manifests
 * written before these two fields existed lack them (still version 1: readers ignore fields
 * they do not know, and a missing `immutable` counts as false). Paths are relative to the target (bucket prefix or directory) with `/` separators; `url` is
 * there only with a base URL. No timestamp: the same build gives the same bytes, so a re-run
 * skips it like any other unchanged object. Keys are in path order.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

export const MANIFEST_NAME = 'manifest.json';
/** The manifest changes with every build: caches must ask again. */
export const MANIFEST_CACHE_CONTROL = 'no-cache';

export interface ManifestEntry {
  readonly path: string;
  readonly url?: string;
  readonly size: number;
  readonly sha256: string;
  readonly immutable: boolean;
  /** `sha384-<base64>`. */
  readonly integrity: string;
}

export interface Manifest {
  readonly version: 1;
  readonly assets: Readonly<Record<string, ManifestEntry>>;
}

export interface ManifestSource {
  readonly source: string;
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  /** Base64 SHA-384 of the bytes. */
  readonly sha384: string;
  readonly immutable: boolean;
}

export function buildManifest(files: readonly ManifestSource[], baseUrl?: string): Manifest {
  const sorted = [...files].sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
  const assets: Record<string, ManifestEntry> = {};
  for (const f of sorted) {
    assets[f.source] = { path: f.path, ...(baseUrl !== undefined ? { url: assetUrl(baseUrl, f.path) } : {}), size: f.size, sha256: f.sha256, immutable: f.immutable, integrity: `sha384-${f.sha384}` };
  }
  return { version: 1, assets };
}

/** `https://cdn.example.com/` + `assets/a b.js` -> `https://cdn.example.com/assets/a%20b.js`. */
export function assetUrl(baseUrl: string, path: string): string {
  return baseUrl.replace(/\/+$/, '') + '/' + path.split('/').map(encodeURIComponent).join('/');
}

export function serializeManifest(manifest: Manifest): Buffer {
  return Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
}

/** Whether text is a manifest of this form (so a build directory's own is not uploaded as an asset). */
export function isUploadManifest(text: string): boolean {
  try {
    const m = JSON.parse(text) as { version?: unknown; assets?: unknown };
    return typeof m.version === 'number' && typeof m.assets === 'object' && m.assets !== null && !Array.isArray(m.assets);
  } catch {
    return false;
  }
}

/** Writes the manifest to a local file atomically (temp file, then rename), creating its directory. */
export async function writeManifestFile(file: string, bytes: Buffer): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temp, bytes, { flag: 'wx' });
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
