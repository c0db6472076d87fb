/**
 * `hashedge upload`: walk a build directory, give every file a content-hashed name, put the
 * ones the target does not hold yet, then write manifest.json (to the target and locally).
 *
 * Order of work: plan (walk, hash every file, name it), refuse conflicts before anything is
 * written, then transfer with bounded concurrency. Each file's failure is recorded and the
 * others go on; the manifests are written only when every file is in place, so a manifest never
 * names an object that is missing. A re-run skips what is there and finishes the job.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { contentTypeFor } from '../asset/content-type.js';
import { EdgeError } from '../errors.js';
import { IMMUTABLE } from '../http/headers.js';
import { digestFile, verifiedFile, verifiedStream, type Digest } from './digest.js';
import { DEFAULT_HASH_LENGTH, targetName } from './hashed-name.js';
import { buildManifest, isUploadManifest, MANIFEST_CACHE_CONTROL, MANIFEST_NAME, serializeManifest, writeManifestFile, type Manifest } from './manifest.js';
import { forEachLimit } from './pool.js';
import { silentProgress, type FileStatus, type UploadProgress } from './progress.js';
import type { UploadTarget } from './target.js';
import { walk, type IgnoredEntry } from './walk.js';

/** Cache-Control stored with names that carry no hash (only with rename off): ask again each time. */
export const UNHASHED_CACHE_CONTROL = 'no-cache';

export interface UploadOptions {
  /** The build output directory. */
  readonly dir: string;
  readonly target: UploadTarget;
  /** Give names without a content hash one (`<stem>-<hash><ext>`). @default true */
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
  /** Files whose target name the edge does not treat as content-hashed (it 404s them without --allow-unhashed). */
  readonly unhashed: readonly string[];
}

export const defaultManifestFile = (dir: string): string => join(resolve(dir), '.hashedge', MANIFEST_NAME);

interface Planned extends Digest {
  readonly source: string;
  readonly file: string;
  readonly path: string;
  readonly hashed: boolean;
}

export async function uploadDirectory(options: UploadOptions): Promise<UploadResult> {
  const { target } = options;
  const rename = options.rename ?? true;
  const hashLength = options.hashLength ?? DEFAULT_HASH_LENGTH;
  const concurrency = options.concurrency ?? 8;
  const progress = options.progress ?? silentProgress;
  const manifestFile = options.manifestFile === undefined ? defaultManifestFile(options.dir) : options.manifestFile === null ? null : resolve(options.manifestFile);

  // plan
  const walked = await walk(options.dir, { exclude: new Set(manifestFile === null ? [] : [manifestFile]) });
  const sources = [];
  for (const f of walked.files) {
    // a manifest left in the build directory by an earlier upload is not an asset
    if (f.path === MANIFEST_NAME && isUploadManifest(await readFile(f.file, 'utf8').catch(() => ''))) continue;
    sources.push(f);
  }
  const planned: Planned[] = new Array(sources.length);
  await forEachLimit(sources, concurrency, async (f, i) => {
    const digest = await digestFile(f.file);
    planned[i] = { source: f.path, file: f.file, ...digest, ...targetName(f.path, digest.sha256, { rename, hashLength }) };
  });
  const unique = uniqueTargets(planned);

  // transfer
  progress.start(planned.length, planned.reduce((n, p) => n + p.size, 0));
  const results = new Map<string, FileResult>();
  const report = (p: Planned, status: FileStatus, error?: EdgeError) => {
    const result: FileResult = { source: p.source, path: p.path, size: p.size, sha256: p.sha256, status, ...(error ? { error } : {}) };
    results.set(p.source, result);
    progress.file({ ...result, ...(error ? { error: { code: error.code, message: error.message } } : {}) });
  };
  await forEachLimit(unique, concurrency, async ({ first, duplicates }) => {
    let status: FileStatus;
    let error: EdgeError | undefined;
    try {
      if (await target.has({ key: first.path, size: first.size, sha256: first.sha256 })) {
        status = 'skipped';
      } else if (options.dryRun) {
        status = 'planned';
      } else {
        await target.put({
          key: first.path,
          size: first.size,
          sha256: first.sha256,
          contentType: contentTypeFor(first.path, undefined),
          cacheControl: first.hashed ? IMMUTABLE : UNHASHED_CACHE_CONTROL,
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
      if (!(await target.has({ key: MANIFEST_NAME, ...digest }))) {
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
    unhashed: planned.filter((p) => !p.hashed).map((p) => p.path),
  };
}

/**
 * Groups plans by target path. Two sources with the same target path and bytes are one object;
 * with different bytes (or a file that would overwrite manifest.json) nothing is uploaded.
 */
function uniqueTargets(planned: readonly Planned[]): { first: Planned; duplicates: Planned[] }[] {
  const byPath = new Map<string, { first: Planned; duplicates: Planned[] }>();
  for (const p of planned) {
    if (p.path === MANIFEST_NAME) {
      throw new EdgeError('E_UPLOAD_CONFLICT', 0, `${p.source} would be uploaded as ${MANIFEST_NAME}, where hashedge writes its manifest; rename it, or upload with --rename (the default).`);
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
