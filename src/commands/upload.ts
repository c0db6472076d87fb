/**
 * `hashedge upload <dir> --to <s3://bucket/prefix | directory>`: flags, then the library
 * (upload/upload.ts), then a summary on stdout and failures on stderr. Exit code 1 when any
 * file failed, 2 for bad flags (ConfigError, raised before anything is read or written).
 */
import { stat } from 'node:fs/promises';
import { relative, resolve, sep, isAbsolute } from 'node:path';
import type { Command } from 'commander';
import { envName, OPTIONS, parseBoolean, parseIntIn, type Config, type FlagSpec, type OriginSpec, type RawOptions } from '../config.js';
import { ConfigError } from '../errors.js';
import { DEFAULT_HASH_LENGTH, MAX_HASH_LENGTH, MIN_HASH_LENGTH } from '../upload/hashed-name.js';
import { createProgress, formatBytes } from '../upload/progress.js';
import { MAX_SCAN_BYTES } from '../upload/references.js';
import { createTarget } from '../upload/create-target.js';
import { defaultManifestFile, uploadDirectory, type FileResult, type UploadResult } from '../upload/upload.js';

export interface UploadFlags {
  readonly to: OriginSpec;
  readonly rename: boolean;
  readonly hashLength: number;
  readonly concurrency: number;
  readonly baseUrl: string | undefined;
  readonly manifest: string | undefined;
  readonly dryRun: boolean;
  readonly s3Endpoint: string | undefined;
  readonly s3Region: string;
  readonly s3ForcePathStyle: boolean;
}

interface UploadFlagSpec<K extends keyof UploadFlags> extends FlagSpec<UploadFlags, K> {
  /** Also read from HASHEDGE_<NAME> (the options shared with `serve`), flag first. */
  readonly env?: boolean;
}

const flag = <K extends keyof UploadFlags>(spec: UploadFlagSpec<K>): UploadFlagSpec<K> => spec;

/** An option of `serve` reused as is (same name, env var, parser, help). */
function serveOption<K extends 'origin' | 's3Endpoint' | 's3Region' | 's3ForcePathStyle'>(key: K) {
  return OPTIONS.find((o) => o.key === key) as unknown as { readonly name: string; readonly arg?: string; readonly default: string | undefined; readonly description: string; readonly expected: string; readonly parse: (t: string) => Config[K] | undefined };
}


function parseBaseUrl(text: string): string | undefined {
  try {
    const url = new URL(text);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.search === '' && url.hash === '' ? url.href.replace(/\/+$/, '') + '/' : undefined;
  } catch {
    return undefined;
  }
}

const origin = serveOption('origin');
const s3Endpoint = serveOption('s3Endpoint');
const s3Region = serveOption('s3Region');
const s3ForcePathStyle = serveOption('s3ForcePathStyle');

/** The upload command's flags, for `hashedge upload --help`, the README and resolveUploadFlags. */
export const UPLOAD_FLAGS = [
  flag({ key: 'to', name: 'to', arg: '<s3-url-or-dir>', default: undefined, description: 'Where to upload (required): s3://bucket/prefix, or a directory (created if missing; an edge --origin).', expected: origin.expected, parse: (t) => origin.parse(t) }),
  flag({ key: 'rename', name: 'rename', default: 'true', description: "Rename `<stem>-<hash>.<ext>` (and upload immutable) the static media files (images, fonts, audio, video, PDFs) with no evidence of immutability (no content hash in the name, framework folder or Vite manifest entry) that no other file of the build names. Scripts, styles and data with no evidence (a bundler's runtime may build their names: webpack's [id].js), files the build names, and page files (HTML, robots.txt, ...) always keep their names and go up with Cache-Control: no-cache. --no-rename keeps every name.", expected: 'true or false', parse: parseBoolean }),
  flag({ key: 'hashLength', name: 'hash-length', arg: '<digits>', default: String(DEFAULT_HASH_LENGTH), description: 'Hex digits of the SHA-256 in generated names.', expected: `an integer from ${MIN_HASH_LENGTH} to ${MAX_HASH_LENGTH}`, parse: parseIntIn(MIN_HASH_LENGTH, MAX_HASH_LENGTH) }),
  flag({ key: 'concurrency', name: 'concurrency', arg: '<n>', default: '8', description: 'Files hashed, checked and uploaded at once.', expected: 'an integer from 1 to 64', parse: parseIntIn(1, 64) }),
  flag({ key: 'baseUrl', name: 'base-url', arg: '<url>', default: undefined, description: "The edge's URL for the target, e.g. https://cdn.example.com/; the manifest then gives each asset's url.", expected: 'an http(s) URL without query or fragment', parse: parseBaseUrl }),
  flag({ key: 'manifest', name: 'manifest', arg: '<file>', default: undefined, description: 'Local file to write the manifest to, for bundler plugins and servers (default: `<dir>/.hashedge/manifest.json`); it is also uploaded as `manifest.json`.', expected: 'a file path', parse: (t) => (t.trim() === '' ? undefined : t) }),
  flag({ key: 'dryRun', name: 'dry-run', default: 'false', description: "Hash, decide and check the target, and print each file's decision and why; upload and write nothing.", expected: 'true or false', parse: parseBoolean }),
  flag({ key: 's3Endpoint', name: s3Endpoint.name, arg: s3Endpoint.arg!, default: s3Endpoint.default, description: s3Endpoint.description, expected: s3Endpoint.expected, parse: (t) => s3Endpoint.parse(t), env: true }),
  flag({ key: 's3Region', name: s3Region.name, arg: s3Region.arg!, default: s3Region.default, description: s3Region.description, expected: s3Region.expected, parse: (t) => s3Region.parse(t), env: true }),
  flag({ key: 's3ForcePathStyle', name: s3ForcePathStyle.name, default: s3ForcePathStyle.default, description: s3ForcePathStyle.description, expected: s3ForcePathStyle.expected, parse: (t) => s3ForcePathStyle.parse(t), env: true }),
] as const;

/** The flags from raw values (commander's) and the environment. Throws ConfigError naming the flag. */
export function resolveUploadFlags(flags: RawOptions = {}, env: Readonly<Record<string, string | undefined>> = {}): UploadFlags {
  const out: Record<string, unknown> = {};
  for (const spec of UPLOAD_FLAGS) {
    const given = flags[spec.name];
    const fromEnv = 'env' in spec && spec.env ? env[envName(spec.name)] : undefined;
    const [text, source] = given !== undefined ? [String(given), `--${spec.name}`]
      : fromEnv !== undefined && fromEnv !== '' ? [fromEnv, envName(spec.name)]
      : [spec.default, `default of --${spec.name}`];
    if (text === undefined) {
      if (spec.key === 'to') throw new ConfigError('--to: required; give s3://bucket/prefix or a directory to upload to.');
      out[spec.key] = undefined;
      continue;
    }
    const value = (spec.parse as (t: string) => unknown)(text);
    if (value === undefined) throw new ConfigError(`${source}: expected ${spec.expected}, got ${JSON.stringify(text)}.`);
    out[spec.key] = value;
  }
  return Object.freeze(out as unknown as UploadFlags);
}

/** The README's table of upload flags, rendered from UPLOAD_FLAGS (test/upload.test.ts checks the README has it). */
export function renderUploadFlagsMarkdown(): string {
  const rows = UPLOAD_FLAGS.map((spec) => {
    const flag = `\`--${spec.name}${'arg' in spec ? ' ' + spec.arg : ''}\``;
    const env = 'env' in spec ? ` Also \`${envName(spec.name)}\`, as for \`serve\`.` : '';
    return `| ${flag} | ${spec.default === undefined ? '' : `\`${spec.default}\``} | ${spec.description}${env} |`;
  });
  return ['| flag | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

/** Adds `upload` to the program; env is where the shared S3 options may also come from. */
export function registerUploadCommand(program: Command, env: Readonly<Record<string, string | undefined>>): void {
  const command = program
    .command('upload')
    .argument('<dir>', 'the build output directory')
    .description('Upload a build directory to S3 or a directory, immutable where the edge will serve it so and under the names the build uses (renaming only media files nothing names), skipping what is already there, and write manifest.json.');
  for (const spec of UPLOAD_FLAGS) {
    const def = spec.default === undefined ? '' : ` [default: ${spec.default}]`;
    command.option(`--${spec.name}${'arg' in spec ? ' ' + spec.arg : ''}`, `${spec.description}${def}${'env' in spec ? ` [env: ${envName(spec.name)}]` : ''}`);
  }
  command.option('--no-rename', 'Keep every file name as it is.');
  command.action(async (dir: string, opts: Record<string, string | boolean | undefined>) => {
    const raw: Record<string, string | boolean | undefined> = {};
    for (const spec of UPLOAD_FLAGS) raw[spec.name] = opts[spec.name.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())];
    process.exitCode = await upload(dir, resolveUploadFlags(raw, env));
  });
}

export interface UploadIo {
  readonly stdout: NodeJS.WritableStream;
  /** Progress, warnings and failures. */
  readonly stderr: NodeJS.WriteStream | NodeJS.WritableStream;
}

/** Runs the upload and reports it; returns the exit code (0, or 1 if any file failed). */
export async function upload(dir: string, flags: UploadFlags, io: UploadIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  await checkPaths(dir, flags.to);
  const target = await createTarget(flags.to, { region: flags.s3Region, forcePathStyle: flags.s3ForcePathStyle, ...(flags.s3Endpoint !== undefined ? { endpoint: flags.s3Endpoint } : {}) });
  const tty = 'isTTY' in io.stderr && io.stderr.isTTY === true;
  let result: UploadResult;
  try {
    result = await uploadDirectory({
      dir,
      target,
      rename: flags.rename,
      hashLength: flags.hashLength,
      concurrency: flags.concurrency,
      ...(flags.baseUrl !== undefined ? { baseUrl: flags.baseUrl } : {}),
      manifestFile: flags.manifest ?? defaultManifestFile(dir),
      dryRun: flags.dryRun,
      progress: createProgress(io.stderr, { tty, ...('columns' in io.stderr && io.stderr.columns ? { columns: io.stderr.columns } : {}) }),
    });
  } finally {
    await target.close();
  }
  warn(result);
  return report(result, flags.dryRun, io);
}

/** Bad paths are flag errors: found before anything is read or written. */
async function checkPaths(dir: string, to: OriginSpec): Promise<void> {
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new ConfigError(`upload <dir>: ${JSON.stringify(dir)} is not a directory.`);
  if (to.kind === 'disk') {
    const inside = relative(resolve(dir), resolve(to.root));
    if (inside === '' || (!inside.startsWith('..' + sep) && inside !== '..' && !isAbsolute(inside))) {
      throw new ConfigError(`--to: ${JSON.stringify(to.root)} is inside the directory being uploaded; the next upload would pick up its own output.`);
    }
  }
}

function warn(result: UploadResult): void {
  for (const f of result.files) {
    if (f.decision !== 'referenced') continue;
    process.emitWarning(`${f.source} has no content hash in its name and ${f.referencedBy} names it, so it keeps its name and goes up with Cache-Control: no-cache: the edge refuses it (404 E_NOT_HASHED) unless run with an --immutable rule that covers it (if it never changes under this name) or --allow-unhashed.`, { code: 'HASHEDGE_REFERENCED_UNHASHED' });
  }
  const unhashed = result.files.filter((f) => f.decision === 'unhashed').map((f) => f.path);
  if (unhashed.length > 0) {
    const some = unhashed.slice(0, 3).join(', ') + (unhashed.length > 3 ? ', ...' : '');
    process.emitWarning(`${unhashed.length} file(s) have names the edge does not see as content-hashed (${some}) and go up no-cache: it answers 404 for them unless run with an --immutable rule that covers them or --allow-unhashed. Scripts, styles and data keep their names (a bundler's runtime may build them): have the bundler put a content hash in them. Media files are renamed with a hash only with --rename and an extension.`, { code: 'HASHEDGE_UNHASHED_NAME' });
  }
  if (result.unscanned.length > 0) {
    const some = result.unscanned.slice(0, 3).join(', ') + (result.unscanned.length > 3 ? ', ...' : '');
    process.emitWarning(`${result.unscanned.length} text file(s) over ${formatBytes(MAX_SCAN_BYTES)} were not searched for the names of other files (${some}): a file only they name may have been renamed.`, { code: 'HASHEDGE_UPLOAD_UNSCANNED' });
  }
  for (const entry of result.ignored) {
    process.emitWarning(`${entry.path} was not uploaded: ${IGNORED_REASONS[entry.reason]}.`, { code: 'HASHEDGE_UPLOAD_IGNORED' });
  }
}

const IGNORED_REASONS = {
  'symlink-outside': 'it is a symlink to a file outside the directory',
  'symlink-directory': 'symlinked directories are not followed',
  'broken-symlink': 'it is a broken symlink',
  'not-a-file': 'it is not a regular file',
} as const;

/**
 * A dry run's plan, one line per file: `assets/lazy-DeZuzid1.js  immutable  name: base64url hash
 * DeZuzid1`, `img/photo.jpg -> img/photo-1a2b3c4d5e.jpg  renamed, immutable  ...`.
 */
export function decisionLines(files: readonly FileResult[]): string {
  const rows = files.map((f) => {
    const name = f.path === f.source ? f.source : `${f.source} -> ${f.path}`;
    const what = f.decision === 'renamed' ? 'renamed, immutable' : f.immutable ? 'immutable' : 'no-cache';
    return [name, what, f.reason] as const;
  });
  const width = Math.min(60, Math.max(0, ...rows.map(([name]) => name.length)));
  const whatWidth = Math.max(0, ...rows.map(([, what]) => what.length));
  return rows.map(([name, what, reason]) => `${name.padEnd(width)}  ${what.padEnd(whatWidth)}  ${reason}\n`).join('');
}

function report(result: UploadResult, dryRun: boolean, io: UploadIo): number {
  const count = (status: string) => result.files.filter((f) => f.status === status);
  const sum = (files: readonly { size: number }[]) => formatBytes(files.reduce((n, f) => n + f.size, 0));
  const plural = (n: number) => `${n} ${n === 1 ? 'file' : 'files'}`;
  const uploaded = count(dryRun ? 'planned' : 'uploaded');
  const skipped = count('skipped');
  const failed = count('failed');
  const verb = dryRun ? 'Dry run: would upload' : 'Uploaded';
  if (dryRun) io.stdout.write(decisionLines(result.files));
  io.stdout.write(`${verb} ${plural(uploaded.length)} (${sum(uploaded)}) to ${result.target}; ${plural(skipped.length)} (${sum(skipped)}) already there${failed.length > 0 ? `; ${failed.length} failed` : ''}.\n`);
  if (dryRun) io.stdout.write('Nothing was written.\n');
  const decided = (d: FileResult['decision']) => result.files.filter((f) => f.decision === d).length;
  const [pages, referenced, renamed, unhashed] = [decided('page'), decided('referenced'), decided('renamed'), decided('unhashed')];
  const one = (n: number, singular: string, many: string) => `${n} ${n === 1 ? singular : many}`;
  const are = (n: number) => (dryRun ? 'would be' : n === 1 ? 'is' : 'are');
  if (pages > 0) io.stdout.write(`${one(pages, 'page file kept its name', 'page files kept their names')} and ${are(pages)} uploaded no-cache; the edge serves them only with --allow-unhashed.\n`);
  if (referenced > 0) io.stdout.write(`${one(referenced, 'file with no content hash kept its name', 'files with no content hash kept their names')}, as the build names ${referenced === 1 ? 'it' : 'them'}, and ${are(referenced)} uploaded no-cache (see the warnings).\n`);
  if (unhashed > 0) io.stdout.write(`${one(unhashed, 'other file with no content hash kept its name', 'other files with no content hash kept their names')} (scripts, styles and data are never renamed: a bundler's runtime may build their names) and ${are(unhashed)} uploaded no-cache (see the warnings).\n`);
  if (renamed > 0) io.stdout.write(`${one(renamed, 'file with no content hash that nothing in the build names', 'files with no content hash that nothing in the build names')} ${dryRun ? 'would be' : renamed === 1 ? 'was' : 'were'} renamed <stem>-<hash>.<ext>, immutable (the manifest maps the names).\n`);
  if (result.manifestWrittenTo.length > 0) io.stdout.write(`Manifest: ${result.manifestWrittenTo.join(', ')}\n`);
  if (failed.length === 0 && result.manifestErrors.length === 0) return 0;
  if (failed.length > 0) {
    io.stderr.write(`hashedge: ${failed.length} of ${plural(result.files.length)} failed to upload, so no manifest was written. Run the same command again: what is already there is skipped.\n`);
    for (const f of failed) io.stderr.write(`  ${f.source === f.path ? f.source : `${f.source} -> ${f.path}`}: ${f.error?.code} ${f.error?.message}\n`);
  }
  for (const err of result.manifestErrors) io.stderr.write(`hashedge: the manifest could not be written: ${err.code} ${err.message}\n`);
  return 1;
}
