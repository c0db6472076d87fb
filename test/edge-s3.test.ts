/**
 * The S3 origin, against a real S3-compatible server process (s3rver): directly, and through
 * a real edge node started as `hashedge serve` would be (credentials from the env chain).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { text } from 'node:stream/consumers';
import { resolveConfig } from '../src/config.js';
import { startEdge, type Edge } from '../src/edge.js';
import { S3Origin } from '../src/origin/s3.js';
import { errorCode, request } from './helpers/http.js';
import { startS3Server, S3RVER_CREDENTIALS, type S3TestServer } from './helpers/s3-server.js';

const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');
let s3: S3TestServer;
let edge: Edge;
const css = 'main { display: grid; }\n'.repeat(50);
const video = randomBytes(3 * 1024 * 1024);

before(async () => {
  s3 = await startS3Server();
  await s3.put('site/v1/assets/site-0492830483.css', css, 'text/css');
  await s3.put('site/v1/video/intro-BwT4yKxK.mp4', video, 'video/mp4');
  await s3.put('site/v1/assets/junk-3f2a9b1c.zzq', 'x', 'text/html, <script>');
  await s3.put('site/v1/assets/custom-3f2a9b1c.zzq', 'y', 'application/x-custom; version=2');
  // As hashedge upload stores them: the SHA-256 in metadata; one object's bytes do not match it.
  await s3.put('site/v1/assets/signed-0492830483.js', 'signed', 'text/javascript', { sha256: sha256Hex('signed') });
  await s3.put('site/v1/assets/tampered-0492830483.js', 'tampered', 'text/javascript', { sha256: sha256Hex('signed') });
  // As an operator would: the origin flags, and credentials from the standard AWS env chain.
  process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
  const config = resolveConfig({ port: '0', host: '127.0.0.1', origin: `s3://${s3.bucket}/site/v1`, 's3-endpoint': s3.endpoint, 's3-force-path-style': 'true', 'max-object-size': '1MiB' });
  edge = await startEdge(config);
});

after(async () => {
  await edge?.close();
  await s3?.stop();
});

test('an asset in the bucket is served and cached by the edge', async () => {
  const first = await request(`${edge.url}/assets/site-0492830483.css`);
  assert.equal(first.status, 200);
  assert.equal(first.body.toString(), css);
  assert.equal(first.headers['content-type'], 'text/css; charset=utf-8');
  assert.equal(first.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(first.headers['cache-status'], 'hashedge; fwd=miss; stored');
  const second = await request(`${edge.url}/assets/site-0492830483.css`);
  assert.equal(second.headers['cache-status'], 'hashedge; hit');
  assert.equal(second.headers.etag, first.headers.etag);
});

test('a key missing from the bucket is a 404', async () => {
  const res = await request(`${edge.url}/assets/missing-0492830483.css`);
  assert.equal(res.status, 404);
  assert.equal(errorCode(res), 'E_NOT_FOUND');
});

test('a large object streams through, and a range of it is asked of the bucket as a range', async () => {
  const whole = await request(`${edge.url}/video/intro-BwT4yKxK.mp4`);
  assert.equal(whole.status, 200);
  assert.ok(whole.body.equals(video));
  assert.equal(whole.headers['cache-status'], 'hashedge; fwd=miss; detail=too-large');
  const part = await request(`${edge.url}/video/intro-BwT4yKxK.mp4`, { headers: { range: 'bytes=1000-1999' } });
  assert.equal(part.status, 206);
  assert.equal(part.headers['content-range'], `bytes 1000-1999/${video.length}`);
  assert.ok(part.body.equals(video.subarray(1000, 2000)));
});

test('the stored Content-Type is used for unknown extensions only when it is a valid media type', async () => {
  const junk = await request(`${edge.url}/assets/junk-3f2a9b1c.zzq`);
  assert.equal(junk.status, 200);
  assert.equal(junk.headers['content-type'], 'application/octet-stream');
  const custom = await request(`${edge.url}/assets/custom-3f2a9b1c.zzq`);
  assert.equal(custom.headers['content-type'], 'application/x-custom; version=2');
});

test('the S3 origin reads ranges, reports missing keys as null, and fails with codes', async () => {
  const origin = new S3Origin({ bucket: s3.bucket, prefix: 'site/v1/', region: 'us-east-1', forcePathStyle: true, client: s3.client });
  const signal = new AbortController().signal;
  const ranged = await origin.get('assets/site-0492830483.css', { signal, range: { start: 5, end: 14 } });
  assert.ok(ranged);
  assert.equal(ranged.size, Buffer.byteLength(css));
  assert.equal(await text(ranged.body), css.slice(5, 15));
  assert.equal(await origin.get('assets/nope-0492830483.css', { signal }), null);

  const reason = new Error('stop');
  await assert.rejects(origin.get('assets/site-0492830483.css', { signal: AbortSignal.abort(reason) }), (err) => err === reason);

  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as { port: number };
  await new Promise((resolve) => closed.close(resolve));
  const unreachable = new S3Origin({ bucket: 'b', prefix: '', region: 'us-east-1', forcePathStyle: true, endpoint: `http://127.0.0.1:${port}` });
  await assert.rejects(unreachable.get('k', { signal }), (err: { code?: string }) => err.code === 'E_ORIGIN');
  await unreachable.close();
});

test('an object whose bytes do not match the SHA-256 in its S3 metadata is refused, not cached', async () => {
  assert.equal((await request(`${edge.url}/assets/signed-0492830483.js`)).status, 200);
  const tampered = await request(`${edge.url}/assets/tampered-0492830483.js`);
  assert.equal(tampered.status, 502);
  assert.equal(errorCode(tampered), 'E_ORIGIN_INTEGRITY');
  assert.equal((await request(`${edge.url}/assets/tampered-0492830483.js`)).status, 502, 'never cached: checked again');
});
