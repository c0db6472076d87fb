/**
 * `hashedge upload`: against a real S3-compatible server process (s3rver) and a directory, as
 * users run it (the real CLI through tsx: its output and exit codes), plus the library for the
 * cases a process cannot stage cheaply (a file that changes mid-upload, a multipart upload).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { isContentHashedName } from '../src/asset/hashed-name.js';
import { exampleAssetPath } from '../src/commands/serve.js';
import { renderUploadFlagsMarkdown, resolveUploadFlags, upload } from '../src/commands/upload.js';
import { resolveConfig } from '../src/config.js';
import { EdgeError } from '../src/errors.js';
import { hashToken, uploadHash } from '../src/upload/hashed-name.js';
import { createProgress } from '../src/upload/progress.js';
import { findReferences } from '../src/upload/references.js';
import { DirectoryTarget } from '../src/upload/target-dir.js';
import { S3Target } from '../src/upload/target-s3.js';
import type { UploadTarget } from '../src/upload/target.js';
import { uploadDirectory } from '../src/upload/upload.js';
import { startS3Server, S3RVER_CREDENTIALS, type S3TestServer } from './helpers/s3-server.js';
import { runCli, type CliResult } from './helpers/cli.js';
import { tempDir, writeFiles, type TempDir } from './helpers/temp-dir.js';

const IMMUTABLE = 'public, max-age=31536000, immutable';

let s3: S3TestServer;
let work: TempDir;
let build: string;

const files: Record<string, string | Buffer> = {
  // Static media with no hash, named by nothing: the files upload renames.
  'art/hero.jpg': 'JPEG bytes of a hero.\n',
  'fonts/brand.woff2': 'wOF2 bytes of the brand\n',
  'assets/logo-0492830483.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>\n',
  '.DS_Store': 'finder junk',
};

const sha256 = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
/** Subresource Integrity, as browsers compute it. */
const sri = (b: string | Buffer) => `sha384-${createHash('sha384').update(b).digest('base64')}`;
/** Where hashedge puts a file that has no hash in its name: `<stem>-<10 hex>.<ext>`. */
const hashed = (path: string) => path.replace(/(\.[^./]+)$/, `-${uploadHash(Buffer.from(files[path]!), 10)}$1`);

/** `hashedge upload <args>` as a real process, with s3rver's credentials in the standard env chain. */
function hashedge(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(['upload', ...args], { AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, ...env });
}

/** The upload command in this process (same flags, same report), for runs whose exit code another test already checks on the real process. */
async function uploadCommand(args: Record<string, string | boolean>, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: { write: (s: string) => ((stdout += s), true) } as unknown as NodeJS.WritableStream,
    stderr: { write: (s: string) => ((stderr += s), true) } as unknown as NodeJS.WritableStream,
  };
  const { dir, ...flags } = args;
  const code = await upload(String(dir), resolveUploadFlags(flags, env), io);
  return { code, stdout, stderr };
}

async function getObject(key: string) {
  const res = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  return { ...res, bytes: Buffer.from(await res.Body!.transformToByteArray()) };
}

before(async () => {
  s3 = await startS3Server();
  // For the S3 clients the command builds in this process: the standard AWS env chain.
  process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
  work = await tempDir('upload');
  build = work.path('dist');
  await writeFiles(build, files);
});

after(async () => {
  await s3?.stop();
  await work?.remove();
});

test('the name hash is the first 10 hex digits of the SHA-256 of the bytes, as in the sample, and the edge sees it as a hash', async () => {
  const app = await readFile(new URL('../sample/assets/app-1d18a1d220.js', import.meta.url));
  assert.equal(uploadHash(app, 10), '1d18a1d220');
  assert.equal(uploadHash(app, 12), sha256(app).slice(0, 12));
  // Ten letters and no digit would read as a word to the edge: the hash runs on to the first digit.
  assert.equal(hashToken('abcdefabcd' + 'ef7'.padEnd(54, '0'), 10), 'abcdefabcdef7');
  assert.ok(isContentHashedName('app-abcdefabcdef7.js'));
  assert.ok(isContentHashedName(`app-${uploadHash(Buffer.from('x'), 8)}.js`));
});

test('upload to S3: hashed names, Content-Type, immutable Cache-Control, sha256 metadata, and a manifest in the bucket and on disk', async () => {
  const manifestFile = work.path('manifest-s3.json');
  const { code, stdout, stderr } = await hashedge([build, '--to', `s3://${s3.bucket}/site/v1`, '--s3-endpoint', s3.endpoint, '--s3-force-path-style', '--base-url', 'https://cdn.example.com/', '--manifest', manifestFile]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^Uploaded 3 files \(.+\) to s3:\/\/assets\/site\/v1\/; 0 files \(0 B\) already there\.$/m);
  assert.match(stderr, /^uploaded art\/hero\.jpg -> art\/hero-[0-9a-f]{10}\.jpg /m, 'one plain progress line per file when stderr is not a terminal');

  const jpg = await getObject(`site/v1/${hashed('art/hero.jpg')}`);
  assert.equal(jpg.bytes.toString(), files['art/hero.jpg']);
  assert.equal(jpg.ContentType, 'image/jpeg');
  assert.equal(jpg.CacheControl, IMMUTABLE);
  assert.equal(jpg.Metadata?.sha256, sha256(files['art/hero.jpg']!));
  assert.equal((await getObject(`site/v1/${hashed('fonts/brand.woff2')}`)).ContentType, 'font/woff2');
  assert.equal((await getObject('site/v1/assets/logo-0492830483.svg')).bytes.toString(), files['assets/logo-0492830483.svg'], 'a name that carries a hash is kept');
  await assert.rejects(getObject('site/v1/.DS_Store'), { name: 'NoSuchKey' });

  const inBucket = await getObject('site/v1/manifest.json');
  assert.equal(inBucket.CacheControl, 'no-cache');
  const local = await readFile(manifestFile);
  assert.ok(inBucket.bytes.equals(local), 'the same manifest in the bucket and on disk');
  assert.deepEqual(JSON.parse(local.toString()), {
    version: 1,
    assets: {
      'art/hero.jpg': { path: hashed('art/hero.jpg'), url: `https://cdn.example.com/${hashed('art/hero.jpg')}`, size: 22, sha256: sha256(files['art/hero.jpg']!), immutable: true, integrity: sri(files['art/hero.jpg']!) },
      'assets/logo-0492830483.svg': { path: 'assets/logo-0492830483.svg', url: 'https://cdn.example.com/assets/logo-0492830483.svg', size: 42, sha256: sha256(files['assets/logo-0492830483.svg']!), immutable: true, integrity: sri(files['assets/logo-0492830483.svg']!) },
      'fonts/brand.woff2': { path: hashed('fonts/brand.woff2'), url: `https://cdn.example.com/${hashed('fonts/brand.woff2')}`, size: 24, sha256: sha256(files['fonts/brand.woff2']!), immutable: true, integrity: sri(files['fonts/brand.woff2']!) },
    },
  });

  // Run again, with the S3 options from the env as `serve` takes them: nothing to do, same manifest.
  const again = await uploadCommand({ dir: build, to: `s3://${s3.bucket}/site/v1`, 'base-url': 'https://cdn.example.com/', manifest: manifestFile }, { HASHEDGE_S3_ENDPOINT: s3.endpoint, HASHEDGE_S3_FORCE_PATH_STYLE: 'true' });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^Uploaded 0 files \(0 B\) to .*; 3 files \(88 B\) already there\.$/m);
  assert.equal(again.stderr.match(/^skipped /gm)?.length, 3);
  assert.ok((await readFile(manifestFile)).equals(local));
});

test('an object already in the bucket with the same sha256 is not uploaded again; one put by another tool is', async () => {
  const dir = work.path('existing');
  await writeFiles(dir, { 'a.png': 'a png\n', 'b.png': 'b png\n' });
  const target = new S3Target({ bucket: s3.bucket, prefix: 'existing/', region: 'us-east-1', forcePathStyle: true, client: s3.client });
  const key = (name: string, body: string) => `existing/${name}-${uploadHash(Buffer.from(body))}.png`;
  await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key('a', 'a png\n'), Body: 'a png\n', CacheControl: IMMUTABLE, Metadata: { sha256: sha256('a png\n') } }));
  await s3.put(key('b', 'b png\n'), 'b png\n'); // no sha256 metadata: cannot be trusted to match

  const result = await uploadDirectory({ dir, target, manifestFile: null });
  assert.deepEqual(result.files.map((f) => [f.source, f.status]), [['a.png', 'skipped'], ['b.png', 'uploaded']]);
  const b = await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key('b', 'b png\n') }));
  assert.equal(b.Metadata?.sha256, sha256('b png\n'));
});

test('an object with the right bytes but a stale Cache-Control (no-cache from an earlier run, immutable now) gets the new one: uploaded, not skipped; a second run skips it', async () => {
  const dir = work.path('stale');
  const body = 'export const lazy = 1;\n';
  await writeFiles(dir, { 'lazy-1d18a1d2.js': body });
  const key = 'stale/lazy-1d18a1d2.js';
  await s3.put(key, body, 'text/javascript; charset=utf-8', { sha256: sha256(body) }, 'no-cache');
  // Watch what the client sends: the new headers go on by a copy of the object onto itself, not by sending the bytes again.
  const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  const sent: string[] = [];
  client.middlewareStack.add((next, context) => (args) => {
    const input = args.input as { Key?: string };
    if (input.Key === key) sent.push(context.commandName ?? '?');
    return next(args);
  }, { step: 'initialize' });
  const target = new S3Target({ bucket: s3.bucket, prefix: 'stale/', region: 'us-east-1', forcePathStyle: true, client });
  try {
    const first = await uploadDirectory({ dir, target, manifestFile: null });
    assert.deepEqual(first.files.map((f) => [f.source, f.decision, f.status]), [['lazy-1d18a1d2.js', 'immutable', 'uploaded']]);
    assert.deepEqual(sent, ['HeadObjectCommand', 'CopyObjectCommand']);
    const stored = await getObject(key);
    assert.equal(stored.CacheControl, IMMUTABLE);
    assert.equal(stored.bytes.toString(), body);
    assert.equal(stored.Metadata?.sha256, sha256(body));
    assert.equal(stored.ContentType, 'text/javascript; charset=utf-8');

    sent.length = 0;
    const second = await uploadDirectory({ dir, target, manifestFile: null });
    assert.deepEqual(second.files.map((f) => [f.source, f.status]), [['lazy-1d18a1d2.js', 'skipped']]);
    assert.deepEqual(sent, ['HeadObjectCommand']);
  } finally {
    await target.close();
    client.destroy();
  }
});

test('a file above 16 MiB goes up as a multipart upload, whole and with its metadata; one that changes meanwhile is not stored', async () => {
  const dir = work.path('big');
  const video = randomBytes(16 * 1024 * 1024 + 1);
  await writeFiles(dir, { 'intro.mp4': video });
  const key = (bytes: Buffer) => `big/intro-${uploadHash(bytes)}.mp4`;

  // The build rewrites the file's last byte between hashing and upload: the parts already sent
  // are abandoned, and no object claims the old hash.
  const inner = new S3Target({ bucket: s3.bucket, prefix: 'big/', region: 'us-east-1', forcePathStyle: true, client: s3.client });
  const changed = Buffer.from(video);
  changed.writeUInt8(changed.readUInt8(changed.length - 1) ^ 0xff, changed.length - 1);
  const racing: UploadTarget = {
    description: inner.description,
    check: () => inner.check(),
    has: async (item) => {
      await writeFile(join(dir, 'intro.mp4'), changed);
      return inner.has(item);
    },
    put: (item) => inner.put(item),
    close: () => inner.close(),
  };
  const raced = await uploadDirectory({ dir, target: racing, manifestFile: null });
  assert.equal(raced.files[0]!.error?.code, 'E_UPLOAD_CHANGED');
  await assert.rejects(getObject(key(video)), { name: 'NoSuchKey' });

  // s3rver's ETag does not tell a multipart object apart: watch the commands the client sends.
  const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  const sent: string[] = [];
  client.middlewareStack.add((next, context) => (args) => {
    sent.push(context.commandName ?? '?');
    return next(args);
  }, { step: 'initialize' });
  const target = new S3Target({ bucket: s3.bucket, prefix: 'big/', region: 'us-east-1', forcePathStyle: true, client });
  const result = await uploadDirectory({ dir, target, manifestFile: null });
  client.destroy();
  assert.equal(result.files[0]!.status, 'uploaded');
  assert.deepEqual(sent.filter((c) => c !== 'HeadObjectCommand' && c !== 'PutObjectCommand').sort(), ['CompleteMultipartUploadCommand', 'CreateMultipartUploadCommand', 'HeadBucketCommand', 'UploadPartCommand', 'UploadPartCommand', 'UploadPartCommand'], 'one look at the bucket, then three parts: 8 MiB, 8 MiB, 1 byte');
  const stored = await getObject(key(changed));
  assert.ok(stored.bytes.equals(changed));
  assert.equal(stored.Metadata?.sha256, sha256(changed));
  assert.equal(stored.ContentType, 'video/mp4');
});

test('upload to a bucket that does not exist stops before any file with one error naming the reason, and writes no manifest', async () => {
  const manifestFile = work.path('unused.json');
  const target = new S3Target({ bucket: 'no-such-bucket', prefix: 'x/', region: 'us-east-1', forcePathStyle: true, client: s3.client });
  await assert.rejects(uploadDirectory({ dir: build, target, manifestFile }), (err: EdgeError) => err.code === 'E_UPLOAD' && /^cannot use s3:\/\/no-such-bucket\/x\/: NoSuchBucket: .* Nothing was uploaded\.$/.test(err.message));
  await assert.rejects(stat(manifestFile), { code: 'ENOENT' });
});

test('a target that cannot be reached (a refused connection, a missing bucket) is one error line and exit 1, not one line per file', async () => {
  for (const [to, reason] of [['s3://assets/site', /ECONNREFUSED/], [`s3://no-such-bucket/site`, /NoSuchBucket/]] as const) {
    const endpoint = to.startsWith('s3://assets') ? 'http://127.0.0.1:9' : s3.endpoint;
    const { code, stderr } = await hashedge([build, '--to', to, '--s3-endpoint', endpoint, '--s3-force-path-style']);
    assert.equal(code, 1, stderr);
    const errors = stderr.split('\n').filter((line) => /cannot use|E_UPLOAD|failed/i.test(line));
    assert.equal(errors.length, 1, stderr);
    assert.match(errors[0]!, reason);
    assert.match(errors[0]!, /Nothing was uploaded/);
  }
});

test('upload to a directory: a file that cannot be written fails the run (exit 1), the rest land; a re-run finishes the job', async () => {
  const dir = work.path('site');
  const out = work.path('origin');
  await writeFiles(dir, files);
  const outside = work.path('secret.txt');
  await writeFile(outside, 'not part of the build');
  await symlink(outside, join(dir, 'secret.txt'));
  // A directory stands where art/hero.jpg's hashed copy must go.
  await mkdir(join(out, hashed('art/hero.jpg'), 'in-the-way'), { recursive: true });

  const manifestFile = join(out, '..', 'origin-manifest.json');
  const first = await hashedge([dir, '--to', out, '--manifest', manifestFile]);
  assert.equal(first.code, 1);
  assert.match(first.stderr, new RegExp(`^ {2}art/hero\\.jpg -> ${hashed('art/hero.jpg')}: E_UPLOAD `, 'm'));
  assert.match(first.stderr, /1 of 3 files failed to upload/);
  assert.match(first.stderr, /\[HASHEDGE_UPLOAD_IGNORED\].*secret\.txt/, 'a symlink out of the build directory is left out, with a warning');
  assert.equal(await readFile(join(out, hashed('fonts/brand.woff2')), 'utf8'), files['fonts/brand.woff2']);
  await assert.rejects(stat(join(out, 'manifest.json')), { code: 'ENOENT' });

  await rm(join(out, hashed('art/hero.jpg')), { recursive: true });
  const second = await uploadCommand({ dir, to: out, manifest: manifestFile });
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /^Uploaded 1 file \(22 B\) to .*; 2 files \(66 B\) already there\.$/m);
  assert.equal(await readFile(join(out, hashed('art/hero.jpg')), 'utf8'), files['art/hero.jpg']);
  assert.deepEqual((await readdir(out, { recursive: true })).sort(), ['art', 'art/hero-' + uploadHash(Buffer.from(files['art/hero.jpg']!)) + '.jpg', 'assets', 'assets/logo-0492830483.svg', 'fonts', hashed('fonts/brand.woff2'), 'manifest.json'].sort(), 'no secret.txt, no .DS_Store, no temporary files');
  assert.ok((await readFile(join(out, 'manifest.json'))).equals(await readFile(manifestFile)));
  // `hashedge serve --origin <out>` reads this manifest for its example URL.
  assert.equal(await exampleAssetPath(resolveConfig({ origin: out })), hashed('art/hero.jpg'));
});

test('--dry-run reports what it would upload and writes nothing', async () => {
  const out = work.path('dry');
  const { code, stdout } = await uploadCommand({ dir: build, to: out, 'dry-run': true, manifest: work.path('dry.json') });
  assert.equal(code, 0);
  assert.match(stdout, /^Dry run: would upload 3 files \(88 B\) to .*\nNothing was written\.$/m);
  await assert.rejects(stat(out), { code: 'ENOENT' });
  await assert.rejects(stat(work.path('dry.json')), { code: 'ENOENT' });
});

test('bad flags stop the command with exit code 2 before anything is read, naming the flag', async () => {
  const short = await hashedge([build, '--to', work.path('x'), '--hash-length', '6']);
  assert.equal(short.code, 2);
  assert.match(short.stderr, /--hash-length: expected an integer from 8 to 64, got "6"/);
  assert.throws(() => resolveUploadFlags({}), (err: EdgeError) => err.code === 'E_CONFIG' && /^--to: required/.test(err.message));
  assert.throws(() => resolveUploadFlags({ to: 'http://bucket' }), { code: 'E_CONFIG' });
  assert.throws(() => resolveUploadFlags({ to: 'out', 'base-url': 'ftp://cdn' }), { code: 'E_CONFIG' });
  await assert.rejects(uploadCommand({ dir: build, to: join(build, 'out') }), { code: 'E_CONFIG' }, 'a target inside the build directory');
  await assert.rejects(uploadCommand({ dir: work.path('missing'), to: work.path('y') }), { code: 'E_CONFIG' });
});

test('a file that changes while it is uploaded is not stored under the name of its old bytes', async () => {
  const dir = work.path('changing');
  const out = work.path('changing-out');
  await writeFiles(dir, { 'app.js': 'v1();\n' });
  const inner = new DirectoryTarget(out);
  // Between hashing and upload, the build rewrites the file (a watcher, a second build).
  const racing: UploadTarget = {
    description: inner.description,
    check: () => inner.check(),
    has: async (item) => {
      await writeFile(join(dir, 'app.js'), 'v2();\n');
      return inner.has(item);
    },
    put: (item) => inner.put(item),
    close: () => inner.close(),
  };
  const result = await uploadDirectory({ dir, target: racing, manifestFile: null });
  assert.equal(result.files[0]!.status, 'failed');
  assert.equal(result.files[0]!.error?.code, 'E_UPLOAD_CHANGED');
  assert.deepEqual(await readdir(out), [], 'nothing stored, no temporary file left');
});

test('two files that would get one name: the same bytes make one object, different bytes stop the upload before anything is written', async () => {
  const same = work.path('same');
  const h = uploadHash(Buffer.from('x png\n'));
  await writeFiles(same, { 'a.png': 'x png\n', [`a-${h}.png`]: 'x png\n' });
  const out = work.path('same-out');
  const result = await uploadDirectory({ dir: same, target: new DirectoryTarget(out), manifestFile: null });
  assert.deepEqual(Object.fromEntries(Object.entries(result.manifest.assets).map(([k, v]) => [k, v.path])), { 'a.png': `a-${h}.png`, [`a-${h}.png`]: `a-${h}.png` });
  assert.deepEqual((await readdir(out)).sort(), [`a-${h}.png`, 'manifest.json']);

  const clash = work.path('clash');
  await writeFiles(clash, { 'a.png': 'x png\n', [`a-${h}.png`]: 'y png\n' });
  await assert.rejects(uploadDirectory({ dir: clash, target: new DirectoryTarget(work.path('clash-out')), manifestFile: null }), { code: 'E_UPLOAD_CONFLICT' });
  await assert.rejects(stat(work.path('clash-out')), { code: 'ENOENT' });
});

test('on a terminal, progress is one bar with files, bytes, rate and ETA', () => {
  let text = '';
  const out = { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WritableStream;
  let now = 0;
  const progress = createProgress(out, { tty: true, columns: 100, clock: () => now });
  progress.start(2, 4 * 1024 * 1024);
  now = 1000;
  progress.transferred('a.bin', 1024 * 1024);
  assert.match(text.slice(text.lastIndexOf('\r')), /^\r\x1b\[K\[#{6}-{18}\] 0\/2 files {2}1\.0 MiB\/4\.0 MiB {2}1\.0 MiB\/s {2}ETA 3s$/);
  progress.file({ source: 'a.bin', path: 'a-0123456789.bin', size: 2 * 1024 * 1024, status: 'failed', error: { code: 'E_UPLOAD', message: 'disk full' } });
  assert.match(text, /\r\x1b\[KFAILED {3}a\.bin -> a-0123456789\.bin \(2\.0 MiB\): E_UPLOAD disk full\n/, 'failures are printed above the bar');
});

/**
 * A Vite build with one of each kind of file: what upload must do with it is in the comment.
 * The lazy chunk's hash reads like a word; the old rules renamed it and broke the import().
 */
const viteBuild: Record<string, string> = {
  'index.html': '<!doctype html><script type="module" src="/assets/index-BwT4yKxK.js"></script>\n', // page: kept, no-cache
  'robots.txt': 'User-agent: *\n', // page: kept, no-cache
  'assets/index-BwT4yKxK.js': 'import("./lazy-DeZuzid1.js");new Worker(new URL("worker.js",import.meta.url));document.body.style.background="url(/img/bg%20dark.png)";\n', // name hash
  'assets/lazy-DeZuzid1.js': 'export const lazy = 1;\n', // name hash (word-like): kept, immutable
  'assets/entry.js': 'entry();\n', // no hash in the name, but in the Vite manifest: kept, immutable
  'assets/worker.js': 'onmessage = () => {};\n', // no evidence, named by index-BwT4yKxK.js: kept, no-cache
  'img/bg dark.png': 'png bytes', // no evidence, named (percent-encoded) by index-BwT4yKxK.js: kept, no-cache
  'img/photo.jpg': 'jpeg bytes', // no evidence, named by nothing: renamed, immutable
  '.vite/manifest.json': JSON.stringify({ 'index.html': { file: 'assets/index-BwT4yKxK.js', src: 'index.html', isEntry: true }, 'src/entry.js': { file: 'assets/entry.js', src: 'src/entry.js' } }), // uploaded no-cache: the edge reads it
  '.vite/ssr-manifest.json': '{}', // other dotfiles stay out
  '.env': 'SECRET=1\n',
};

test('upload decides each file as the edge does: hashed names and Vite manifest entries immutable, page files and files the build names keep their names no-cache, only unnamed files are renamed', async () => {
  const dir = work.path('vite-build');
  await writeFiles(dir, viteBuild);
  const manifestFile = work.path('vite-build-manifest.json');
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  let run: Awaited<ReturnType<typeof uploadCommand>>;
  try {
    run = await uploadCommand({ dir, to: `s3://${s3.bucket}/decide`, manifest: manifestFile }, { HASHEDGE_S3_ENDPOINT: s3.endpoint, HASHEDGE_S3_FORCE_PATH_STYLE: 'true' });
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
  } finally {
    process.off('warning', onWarning);
  }
  assert.equal(run.code, 0, run.stderr);
  const photo = `img/photo-${uploadHash(Buffer.from(viteBuild['img/photo.jpg']!))}.jpg`;
  assert.match(run.stdout, /^Uploaded 9 files .*; 0 files \(0 B\) already there\.$/m);
  assert.match(run.stdout, /^2 page files kept their names and are uploaded no-cache; the edge serves them only with --allow-unhashed\.$/m);
  assert.match(run.stdout, /^2 files with no content hash kept their names, as the build names them, and are uploaded no-cache/m);
  assert.match(run.stdout, /^1 file with no content hash that nothing in the build names was renamed/m);
  const referenced = warnings.filter((w) => (w as { code?: string }).code === 'HASHEDGE_REFERENCED_UNHASHED').map((w) => w.message);
  assert.equal(referenced.length, 2, 'one warning per referenced file');
  assert.match(referenced[0]!, /^assets\/worker\.js has no content hash in its name and assets\/index-BwT4yKxK\.js names it, .*--immutable.*--allow-unhashed/);
  assert.match(referenced[1]!, /^img\/bg dark\.png has no content hash/);

  const cacheControl = async (key: string) => (await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `decide/${key}` }))).CacheControl;
  const expected: Record<string, string> = {
    'index.html': 'no-cache',
    'robots.txt': 'no-cache',
    'assets/index-BwT4yKxK.js': IMMUTABLE,
    'assets/lazy-DeZuzid1.js': IMMUTABLE,
    'assets/entry.js': IMMUTABLE,
    'assets/worker.js': 'no-cache',
    'img/bg dark.png': 'no-cache',
    [photo]: IMMUTABLE,
    '.vite/manifest.json': 'no-cache',
    'manifest.json': 'no-cache',
  };
  for (const [key, value] of Object.entries(expected)) assert.equal(await cacheControl(key), value, key);
  const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'decide/' }));
  assert.deepEqual(listed.Contents?.map((o) => o.Key!.slice('decide/'.length)).sort(), Object.keys(expected).sort(), 'no .env, no .vite/ssr-manifest.json, no img/photo.jpg under its old name');

  // The manifest: keyed by original path, with immutable and the Subresource Integrity of the bytes.
  const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as { version: number; assets: Record<string, { path: string; immutable: boolean; integrity: string; sha256: string }> };
  assert.equal(manifest.version, 1);
  assert.deepEqual(Object.keys(manifest.assets), Object.keys(viteBuild).filter((p) => p !== '.env' && p !== '.vite/ssr-manifest.json').sort());
  for (const [source, entry] of Object.entries(manifest.assets)) {
    const path = source === 'img/photo.jpg' ? photo : source;
    assert.deepEqual({ path: entry.path, immutable: entry.immutable, integrity: entry.integrity, sha256: entry.sha256 }, { path, immutable: expected[path] === IMMUTABLE, integrity: sri(viteBuild[source]!), sha256: sha256(viteBuild[source]!) }, source);
  }
});

test('--dry-run prints each file\'s decision and why, and writes nothing', async () => {
  const dir = work.path('vite-build-dry');
  await writeFiles(dir, viteBuild);
  const out = work.path('vite-dry-out');
  const { code, stdout } = await uploadCommand({ dir, to: out, 'dry-run': true });
  assert.equal(code, 0);
  assert.match(stdout, /^assets\/lazy-DeZuzid1\.js +immutable +name: base64url hash DeZuzid1$/m);
  assert.match(stdout, /^assets\/index-BwT4yKxK\.js +immutable +manifest \.vite\/manifest\.json$/m, 'the Vite manifest is the first evidence that speaks');
  assert.match(stdout, /^assets\/entry\.js +immutable +manifest \.vite\/manifest\.json$/m);
  assert.match(stdout, /^index\.html +no-cache +page file: an HTML page, never immutable$/m);
  assert.match(stdout, /^robots\.txt +no-cache +page file: a site file, never immutable$/m);
  assert.match(stdout, /^assets\/worker\.js +no-cache +no evidence of immutability, and assets\/index-BwT4yKxK\.js names it/m);
  assert.match(stdout, /^img\/photo\.jpg -> img\/photo-[0-9a-f]{10}\.jpg +renamed, immutable +no evidence of immutability, and no other file of the build names it$/m);
  assert.match(stdout, /^\.vite\/manifest\.json +no-cache +the Vite build manifest/m);
  assert.doesNotMatch(stdout, /\.env|ssr-manifest/);
  assert.match(stdout, /^Dry run: would upload 9 files .*\nNothing was written\.$/m);
  await assert.rejects(stat(out), { code: 'ENOENT' });
});

test('a file nothing names is renamed only when its new name would be immutable; --no-rename keeps it, no-cache', async () => {
  const dir = work.path('unnamed');
  await writeFiles(dir, { 'img/photo.jpg': 'jpeg bytes', CNAME: 'cdn.example.com\n', 'page.html': '<p>no references</p>\n' });
  const decisions = async (rename: boolean) => {
    const result = await uploadDirectory({ dir, target: new DirectoryTarget(work.path('unnamed-out')), rename, dryRun: true, manifestFile: null });
    return Object.fromEntries(result.files.map((f) => [f.source, [f.decision, f.path, f.immutable]]));
  };
  assert.deepEqual(await decisions(true), {
    CNAME: ['unhashed', 'CNAME', false], // CNAME-<hash> would carry no hash the edge sees: no extension
    'img/photo.jpg': ['renamed', `img/photo-${uploadHash(Buffer.from('jpeg bytes'))}.jpg`, true],
    'page.html': ['page', 'page.html', false],
  });
  assert.deepEqual(await decisions(false), {
    CNAME: ['unhashed', 'CNAME', false],
    'img/photo.jpg': ['unhashed', 'img/photo.jpg', false],
    'page.html': ['page', 'page.html', false],
  });
});

test('scripts, styles and data nothing names keep their names, no-cache (a bundler runtime builds them: webpack\'s "" + chunkId + ".js"); static media nothing names is renamed', async () => {
  const dir = work.path('runtime-names');
  const tree: Record<string, string> = {
    // webpack's runtime: the lazy chunk's and its CSS's names are put together at run time, never written out
    'main.4f3a2b1c9d.js': '__webpack_require__.u = (chunkId) => "" + chunkId + ".js"; __webpack_require__.miniCssF = (id) => "" + id + ".css";\n',
    '437.js': 'export const lazy = 437;\n',
    'main.css': 'body { margin: 0; }\n',
    'photo.png': 'png bytes of a photo',
  };
  await writeFiles(dir, tree);
  const target = new S3Target({ bucket: s3.bucket, prefix: 'runtime-names/', region: 'us-east-1', forcePathStyle: true, client: s3.client });
  const result = await uploadDirectory({ dir, target, manifestFile: null });
  const photo = `photo-${uploadHash(Buffer.from(tree['photo.png']!))}.png`;
  assert.deepEqual(result.files.map((f) => [f.source, f.path, f.decision, f.immutable, f.status]), [
    ['437.js', '437.js', 'unhashed', false, 'uploaded'],
    ['main.4f3a2b1c9d.js', 'main.4f3a2b1c9d.js', 'immutable', true, 'uploaded'],
    ['main.css', 'main.css', 'unhashed', false, 'uploaded'],
    ['photo.png', photo, 'renamed', true, 'uploaded'],
  ]);
  for (const f of result.files.filter((f) => f.decision === 'unhashed')) {
    assert.equal(f.reason, "no evidence of immutability; scripts, styles and data keep their names (a bundler's runtime may build them: webpack's [id].js)", f.source);
  }
  const cacheControl = async (key: string) => (await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `runtime-names/${key}` }))).CacheControl;
  assert.equal(await cacheControl('437.js'), 'no-cache');
  assert.equal(await cacheControl('main.css'), 'no-cache');
  assert.equal(await cacheControl(photo), IMMUTABLE);
  await assert.rejects(getObject('runtime-names/photo.png'), { name: 'NoSuchKey' });
});

test('references: a name anywhere in another text file, as a substring or percent-encoded; never in itself, in binary files or in files over the limit', async () => {
  const dir = work.path('refs');
  const tree: Record<string, string> = {
    'loader.js': 'load("./lib/ba.js"); map("m.js.map"); img("a%20b.png")',
    'lib/ba.js': 'self: ba.js',
    'a.js': 'x',
    'm.js': 'y',
    'm.js.map': 'z',
    'a b.png': 'q',
    'only-self.js': '// only-self.js',
    'in-binary.js': 'w',
    'blob.bin': 'in-binary.js',
    'in-big.js': 'v',
    'big.txt': 'in-big.js' + ' '.repeat(100),
  };
  await writeFiles(dir, tree);
  const files = Object.keys(tree).sort().map((source) => ({ source, file: join(dir, source), size: Buffer.byteLength(tree[source]!) }));
  const candidates = ['lib/ba.js', 'a.js', 'm.js', 'm.js.map', 'a b.png', 'only-self.js', 'in-binary.js', 'in-big.js'];
  const { referencedBy, unscanned } = await findReferences(candidates, files, 100);
  assert.deepEqual(Object.fromEntries(referencedBy), {
    'lib/ba.js': 'loader.js',
    'a.js': 'lib/ba.js', // inside "ba.js", in the first file in path order that has it
    'm.js.map': 'loader.js',
    'm.js': 'loader.js', // inside "m.js.map"
    'a b.png': 'loader.js',
  });
  assert.deepEqual(unscanned, ['big.txt']);
});

test('a web app manifest.json in the build stops the upload with a message that says what to do', async () => {
  const dir = work.path('pwa');
  await writeFiles(dir, { 'manifest.json': '{"name":"App","icons":[]}', 'index.html': '<link rel="manifest" href="/manifest.json">' });
  await assert.rejects(uploadDirectory({ dir, target: new DirectoryTarget(work.path('pwa-out')), manifestFile: null }), (err: EdgeError) => err.code === 'E_UPLOAD_CONFLICT' && /manifest\.webmanifest/.test(err.message) && /<link rel="manifest">/.test(err.message));
  await assert.rejects(stat(work.path('pwa-out')), { code: 'ENOENT' });
});

test("the README's table of upload flags is the flag table", async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  assert.ok(readme.includes(`<!-- upload-flags:start -->\n${renderUploadFlagsMarkdown()}\n<!-- upload-flags:end -->`), 'README.md shows the flags of src/commands/upload.ts');
});
