/**
 * `hashedge upload`: walk a build directory, decide for every file whether it is immutable and
 * what it is called at the target, put the ones the target does not hold yet, then write
 * manifest.json (to the target and locally).
 *
 * The decision never breaks a build: it is the edge's own (asset/immutability.ts, with the
 * default framework presets and the build's Vite manifest as evidence), and a file is renamed
 * only when nothing else would serve it, it is a static media file (STATIC_MEDIA_EXTENSIONS)
 * and no file of the build names it. Per file:
 *  - immutable (a content hash in the name, a framework preset, the Vite manifest): name kept,
 *    `Cache-Control: public, max-age=31536000, immutable`;
 *  - page files and other files never immutable (HTML, robots.txt, sw.js, ...): name kept,
 *    `no-cache` (the edge serves them only with --allow-unhashed);
 *  - no evidence, but another text file of the build contains its name (references.ts): name
 *    kept, `no-cache` (the edge refuses it without an --immutable rule or --allow-unhashed);
 *  - no evidence, not referenced, and not a static media file (scripts, styles, data: a
 *    bundler's runtime may build their names, which no reference scan sees): name kept,
 *    `no-cache`;
 *  - no evidence, not referenced, a static media file: renamed `<stem>-<hash><ext>` and
 *    immutable (with --rename, the default; else name kept, `no-cache`).
 * `.vite/manifest.json` is uploaded (no-cache) although it is in a dot folder: the edge reads it
 * at its origin's root as evidence. Other dotfiles are not.
 *
 * Order of work: plan (walk, hash every file, decide), refuse conflicts before anything is
 * written, then transfer with bounded concurrency. Each file's failure is recorded and the
 * others go on; the manifests are written only when every file is in place, so a manifest never
 * names an object that is missing. A re-run skips what is there and finishes the job; an object
 * with the right bytes but another Cache-Control (its decision changed since) is not skipped:
 * the target puts the new headers on it.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { contentTypeFor } from '../asset/content-type.js';
import { DEFAULT_PRESETS, ImmutabilityPolicy, type ManifestLookup } from '../asset/immutability.js';
import { MAX_MANIFEST_BYTES, pathsInManifest } from '../asset/manifest-evidence.js';
import { EdgeError } from '../errors.js';
import { IMMUTABLE } from '../http/headers.js';
import { digestFile, integrity, verifiedFile, verifiedStream, type Digest, type FileDigest } from './digest.js';
import { DEFAULT_HASH_LENGTH, hashedPath } from './hashed-name.js';
import { buildManifest, isUploadManifest, MANIFEST_CACHE_CONTROL, MANIFEST_NAME, serializeManifest, writeManifestFile, type Manifest } from './manifest.js';
import { forEachLimit } from './pool.js';
import { silentProgress, type FileStatus, type UploadProgress } from './progress.js';
import { findReferences } from './references.js';
import type { UploadTarget } from './target.js';
import { walk, type IgnoredEntry } from './walk.js';

/** Cache-Control stored with files that are not immutable: ask again each time. */
export const UNHASHED_CACHE_CONTROL = 'no-cache';

/** Vite's build manifest (Vite 5+): evidence here, and uploaded for the edge to read at its origin's root. */
export const VITE_MANIFEST = '.vite/manifest.json';

/**
 * The only files upload may rename (lower-case extensions, no dot): static media. Nothing
 * builds their names at run time, so a literal search of the build's text (references.ts) finds
 * every file that names them. Scripts, styles and data are another matter: bundler runtimes
 * put their names together while the page runs (webpack's `"" + chunkId + ".js"` for `437.js`,
 * mini-css-extract's `"" + id + ".css"`, Next.js's route payloads `faq.txt`), so no scan can
 * prove nothing names them, and renaming one breaks lazy loading. They keep their names.
 */
export const STATIC_MEDIA_EXTENSIONS: ReadonlySet<string> = new Set([
  // images
  'png', 'jpg', 'jpeg', 'gif', 'webp', 'avif', 'svg', 'ico', 'bmp', 'tif', 'tiff',
  // fonts
  'woff', 'woff2', 'ttf', 'otf', 'eot',
  // audio and video
  'mp4', 'webm', 'mp3', 'ogg', 'oga', 'ogv', 'wav', 'flac', 'm4a', 'aac',
  // documents
  'pdf',
]);

/** Whether path names a static media file (STATIC_MEDIA_EXTENSIONS), the only kind upload renames. */
export function isStaticMedia(path: string): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  return dot > 0 && STATIC_MEDIA_EXTENSIONS.has(name.slice(dot + 1).toLowerCase());
}

/** Why a file with no evidence that is not static media keeps its name (FileResult.reason). */
const NOT_MEDIA_REASON = "no evidence of immutability; scripts, styles and data keep their names (a bundler's runtime may build them: webpack's [id].js)";

/**
 * What upload does with a file:
 *  - `immutable`: evidence says it never changes; name kept, uploaded immutable;
 *  - `page`: never immutable (page files, web app manifests, ...); name kept, no-cache;
 *  - `build-manifest`: .vite/manifest.json; name kept, no-cache (the edge reads it, never serves it);
 *  - `referenced`: no evidence, another file of the build names it; name kept, no-cache;
 *  - `renamed`: no evidence, a static media file nothing names; `<stem>-<hash><ext>`, immutable;
 *  - `unhashed`: no evidence, not renamed (not static media, --no-rename, or a name no hash
 *    could go in); no-cache.
 */
export type Decision = 'immutable' | 'page' | 'build-manifest' | 'referenced' | 'renamed' | 'unhashed';

export interface UploadOptions {
  /** The build output directory. */
  readonly dir: string;
  readonly target: UploadTarget;
  /** Rename static media files (STATIC_MEDIA_EXTENSIONS) with no evidence of immutability that no file of the build names (`<stem>-<hash><ext>`). @default true */
  readonly rename?: boolean;
  /** Hex digits of the hash in generated names (8-64). @default 10 */
  readonly hashLength?: number;
  /** Files hashed, checked or transferred at once. @default 8 */
  readonly concurrency?: number;
  /** Edge URL the manifest's `url`s start with; no `url`s when unset. */
  readonly baseUrl?: string;
  /** Local file the manifest is written to; null: none. @default `<dir>/.hashedge/manifest.json` */
  readonly manifestFile?: string | null;
  /** Plan and check the target, change nothing. @default false */
  readonly dryRun?: boolean;
  readonly progress?: UploadProgress;
}

export interface FileResult {
  /** Path in the build directory (posix). */
  readonly source: string;
  /** Path at the target (posix). */
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  /** Subresource Integrity of the bytes: `sha384-<base64>`. */
  readonly integrity: string;
  readonly decision: Decision;
  /** Uploaded `Cache-Control: public, max-age=31536000, immutable`; false: `no-cache`. */
  readonly immutable: boolean;
  /** Why, for people (the edge's Verdict.reason where it decided). */
  readonly reason: string;
  /** For `referenced`: the first file (path order) that names it. */
  readonly referencedBy?: string;
  /** `planned`: would be uploaded (dry run). */
  readonly status: FileStatus;
  readonly error?: EdgeError;
}

export interface UploadResult {
  readonly target: string;
  /** One per source file, in path order. */
  readonly files: readonly FileResult[];
  readonly manifest: Manifest;
  /** Where the manifest was written (nothing in a dry run or after a failure). */
  readonly manifestWrittenTo: readonly string[];
  /** Failures writing the manifest (the files' own are in `files`). */
  readonly manifestErrors: readonly EdgeError[];
  /** Entries of the directory left out (symlinks out of it, sockets, ...). */
  readonly ignored: readonly IgnoredEntry[];
  /** Target paths uploaded no-cache, not immutable (the edge 404s them without --allow-unhashed). */
  readonly unhashed: readonly string[];
  /** Text files not searched for references because they are too large (references.ts). */
  readonly unscanned: readonly string[];
}

export const defaultManifestFile = (dir: string): string => join(resolve(dir), '.hashedge', MANIFEST_NAME);

interface Planned extends FileDigest {
  readonly source: string;
  readonly file: string;
  readonly path: string;
  readonly immutable: boolean;
  readonly decision: Decision;
  readonly reason: string;
  readonly referencedBy?: string;
}

export async function uploadDirectory(options: UploadOptions): Promise<UploadResult> {
  const { target } = options;
  const rename = options.rename ?? true;
  const hashLength = options.hashLength ?? DEFAULT_HASH_LENGTH;
  const concurrency = options.concurrency ?? 8;
  const progress = options.progress ?? silentProgress;
  const manifestFile = options.manifestFile === undefined ? defaultManifestFile(options.dir) : options.manifestFile === null ? null : resolve(options.manifestFile);

  // One look at the target before any file is read: missing credentials, a missing bucket or a
  // refused connection is one clear error, not one line per file.
  try {
    await target.check();
  } catch (err) {
    throw new EdgeError('E_UPLOAD', 0, `cannot use ${target.description}: ${asUploadError(err).message.trim()} Nothing was uploaded.`, { cause: err });
  }

  // plan
  const walked = await walk(options.dir, { exclude: new Set(manifestFile === null ? [] : [manifestFile]), dotPaths: [VITE_MANIFEST] });
  const sources = [];
  for (const f of walked.files) {
    // a manifest left in the build directory by an earlier upload is not an asset
    if (f.path === MANIFEST_NAME && isUploadManifest(await readFile(f.file, 'utf8').catch(() => ''))) continue;
    sources.push(f);
  }
  const digests: FileDigest[] = new Array(sources.length);
  await forEachLimit(sources, concurrency, async (f, i) => {
    digests[i] = await digestFile(f.file);
  });
  const vite = sources.find((f) => f.path === VITE_MANIFEST);
  const policy = new ImmutabilityPolicy({ presets: DEFAULT_PRESETS, ...(vite ? { manifests: await viteManifestLookup(vite.file) } : {}) });
  const verdicts = sources.map((f) => policy.decide(f.path));
  // No evidence either way: static media renamed unless the build names them; the rest kept.
  const open = sources.filter((_f, i) => verdicts[i]!.open).map((f) => f.path);
  const { referencedBy, unscanned } = open.length === 0
    ? { referencedBy: new Map<string, string>(), unscanned: [] }
    : await findReferences(open, sources.map((f, i) => ({ source: f.path, file: f.file, size: digests[i]!.size })));
  const planned: Planned[] = sources.map((f, i) => {
    const digest = digests[i]!;
    const verdict = verdicts[i]!;
    const keep = { source: f.path, file: f.file, ...digest, path: f.path };
    if (f.path === VITE_MANIFEST) return { ...keep, immutable: false, decision: 'build-manifest', reason: 'the Vite build manifest: the edge reads it at its origin root as evidence (and never serves it)' };
    if (verdict.immutable) return { ...keep, immutable: true, decision: 'immutable', reason: verdict.reason };
    if (!verdict.open) return { ...keep, immutable: false, decision: 'page', reason: verdict.reason };
    const referrer = referencedBy.get(f.path);
    if (referrer !== undefined) {
      return { ...keep, immutable: false, decision: 'referenced', referencedBy: referrer, reason: `no evidence of immutability, and ${referrer} names it: renaming it would break that reference` };
    }
    if (!isStaticMedia(f.path)) return { ...keep, immutable: false, decision: 'unhashed', reason: NOT_MEDIA_REASON };
    if (!rename) return { ...keep, immutable: false, decision: 'unhashed', reason: `${verdict.reason} (--no-rename)` };
    const renamed = hashedPath(f.path, digest.sha256, hashLength);
    if (!policy.decide(renamed).immutable) {
      return { ...keep, immutable: false, decision: 'unhashed', reason: `${verdict.reason}; not renamed: the edge would not see a hash in ${renamed.slice(renamed.lastIndexOf('/') + 1)} either (a name needs an extension)` };
    }
    return { ...keep, path: renamed, immutable: true, decision: 'renamed', reason: 'no evidence of immutability, and no other file of the build names it' };
  });
  const unique = uniqueTargets(planned);

  // transfer
  progress.start(planned.length, planned.reduce((n, p) => n + p.size, 0));
  const results = new Map<string, FileResult>();
  const report = (p: Planned, status: FileStatus, error?: EdgeError) => {
    const result: FileResult = {
      source: p.source,
      path: p.path,
      size: p.size,
      sha256: p.sha256,
      integrity: integrity(p),
      decision: p.decision,
      immutable: p.immutable,
      reason: p.reason,
      ...(p.referencedBy !== undefined ? { referencedBy: p.referencedBy } : {}),
      status,
      ...(error ? { error } : {}),
    };
    results.set(p.source, result);
    progress.file({ ...result, ...(error ? { error: { code: error.code, message: error.message } } : {}) });
  };
  await forEachLimit(unique, concurrency, async ({ first, duplicates }) => {
    let status: FileStatus;
    let error: EdgeError | undefined;
    const cacheControl = first.immutable ? IMMUTABLE : UNHASHED_CACHE_CONTROL;
    try {
      if (await target.has({ key: first.path, size: first.size, sha256: first.sha256, cacheControl })) {
        status = 'skipped';
      } else if (options.dryRun) {
        status = 'planned';
      } else {
        await target.put({
          key: first.path,
          size: first.size,
          sha256: first.sha256,
          contentType: contentTypeFor(first.path, undefined),
          cacheControl,
          open: () => verifiedFile(first.file, first, first.source, (n) => progress.transferred(first.source, n)),
        });
        status = 'uploaded';
      }
    } catch (err) {
      status = 'failed';
      error = asUploadError(err);
    }
    report(first, status, error);
    // The same bytes under the same name from another source path: one object serves both.
    for (const d of duplicates) report(d, status === 'uploaded' ? 'skipped' : status, error);
  });
  progress.finish();

  const files = planned.map((p) => results.get(p.source)!);
  const manifest = buildManifest(planned, options.baseUrl);
  const manifestWrittenTo: string[] = [];
  const manifestErrors: EdgeError[] = [];
  if (!options.dryRun && files.every((f) => f.status !== 'failed')) {
    const bytes = serializeManifest(manifest);
    const digest = digestBuffer(bytes);
    try {
      if (!(await target.has({ key: MANIFEST_NAME, ...digest, cacheControl: MANIFEST_CACHE_CONTROL }))) {
        await target.put({
          key: MANIFEST_NAME,
          ...digest,
          contentType: contentTypeFor(MANIFEST_NAME, undefined),
          cacheControl: MANIFEST_CACHE_CONTROL,
          open: () => verifiedStream(Readable.from([bytes]), digest, MANIFEST_NAME),
        });
      }
      manifestWrittenTo.push(target.description.replace(/\/?$/, '/') + MANIFEST_NAME);
    } catch (err) {
      manifestErrors.push(asUploadError(err));
    }
    if (manifestFile !== null) {
      try {
        await writeManifestFile(manifestFile, bytes);
        manifestWrittenTo.push(manifestFile);
      } catch (err) {
        manifestErrors.push(asUploadError(err));
      }
    }
  }
  return {
    target: target.description,
    files,
    manifest,
    manifestWrittenTo,
    manifestErrors,
    ignored: walked.ignored,
    unhashed: planned.filter((p) => !p.immutable).map((p) => p.path),
    unscanned,
  };
}

/** What the build's Vite manifest lists (immutable by Vite's naming), as the edge will read it. */
async function viteManifestLookup(file: string): Promise<ManifestLookup | undefined> {
  let text: string;
  try {
    const bytes = await readFile(file);
    if (bytes.length > MAX_MANIFEST_BYTES) return undefined; // the edge will not read it either
    text = bytes.toString('utf8');
  } catch {
    return undefined; // the upload of the file reports the failure
  }
  const found = pathsInManifest(text);
  if (found === null) return undefined;
  const listed = new Set(found.paths);
  return { listing: (key) => (listed.has(key) ? VITE_MANIFEST : undefined) };
}

/**
 * Groups plans by target path. Two sources with the same target path and bytes are one object;
 * with different bytes (or a file that would overwrite manifest.json) nothing is uploaded.
 */
function uniqueTargets(planned: readonly Planned[]): { first: Planned; duplicates: Planned[] }[] {
  const byPath = new Map<string, { first: Planned; duplicates: Planned[] }>();
  for (const p of planned) {
    if (p.path === MANIFEST_NAME) {
      throw new EdgeError('E_UPLOAD_CONFLICT', 0, p.decision === 'page'
        ? `${p.source} (a web app manifest, kept under its name like every page file) would be uploaded as ${MANIFEST_NAME}, where hashedge writes its upload manifest; nothing was uploaded. Rename it to manifest.webmanifest (the standard name) and change the <link rel="manifest"> that names it, or leave it out of the directory you upload (the site's own origin serves it: the edge does not serve page files without --allow-unhashed).`
        : `${p.source} would be uploaded as ${MANIFEST_NAME}, where hashedge writes its upload manifest; nothing was uploaded. Rename it, or leave it out of the directory you upload.`);
    }
    const seen = byPath.get(p.path);
    if (seen === undefined) byPath.set(p.path, { first: p, duplicates: [] });
    else if (seen.first.sha256 === p.sha256) seen.duplicates.push(p);
    else throw new EdgeError('E_UPLOAD_CONFLICT', 0, `${seen.first.source} and ${p.source} would both be uploaded as ${p.path} with different content; nothing was uploaded.`);
  }
  return [...byPath.values()];
}

function digestBuffer(bytes: Buffer): Digest {
  return { sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
}

/** An error as users should read it: our coded ones as they are, others (S3, file system) as E_UPLOAD. */
function asUploadError(err: unknown): EdgeError {
  if (err instanceof EdgeError) return err;
  const e = err as { name?: string; message?: string; code?: string };
  const name = e.name && e.name !== 'Error' ? `${e.name}: ` : '';
  return new EdgeError('E_UPLOAD', 0, `${name}${e.message ?? String(err)}`, { cause: err });
}
