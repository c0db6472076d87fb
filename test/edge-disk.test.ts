/**
 * One edge node over a real disk origin, through real sockets: what a browser gets for a hit,
 * a miss, HEAD, unhashed names, hostile paths, methods and CORS.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { symlink } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import type { Edge } from '../src/edge.js';
import { startTestEdge } from './helpers/edge.js';
import { errorCode, request } from './helpers/http.js';
import { diskOrigin, tempDir, type TempDir } from './helpers/temp-dir.js';

let origin: TempDir;
let outside: TempDir;
let edge: Edge;
const css = Buffer.from('body { color: #14213d; }\n'.repeat(40));
const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...Array.from({ length: 600 }, (_, i) => i % 251)]);

before(async () => {
  origin = await diskOrigin({ 'assets/site-0492830483.css': css, 'assets/logo-BwT4yKxK.png': png, 'assets/plain.css': css, '.env': 'SECRET=1' }, 'disk');
  outside = await tempDir('outside', { 'secret-0492830483.txt': 'outside the origin' });
  await symlink(outside.path('secret-0492830483.txt'), origin.path('assets/link-0492830483.txt'));
  edge = await startTestEdge({ origin: origin.dir });
});

after(async () => {
  await edge.close();
  await origin.remove();
  await outside.remove();
});

test('a content-hashed asset is served immutable with validators, then from the cache', async () => {
  const first = await request(`${edge.url}/assets/site-0492830483.css`);
  assert.equal(first.status, 200);
  assert.deepEqual(first.body, css);
  assert.equal(first.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(first.headers['content-type'], 'text/css; charset=utf-8');
  assert.equal(first.headers['content-length'], String(css.length));
  assert.match(first.headers.etag ?? '', /^"[A-Za-z0-9_-]{22}"$/);
  assert.ok(first.headers['last-modified']);
  assert.equal(first.headers['accept-ranges'], 'bytes');
  assert.equal(first.headers['x-content-type-options'], 'nosniff');
  assert.equal(first.headers.vary, 'Accept-Encoding');
  assert.equal(first.headers['cache-status'], 'hashedge; fwd=miss; stored');
  assert.equal(first.headers.age, '0');

  const second = await request(`${edge.url}/assets/site-0492830483.css`);
  assert.equal(second.status, 200);
  assert.equal(second.headers['cache-status'], 'hashedge; hit');
  assert.equal(second.headers.etag, first.headers.etag);
  assert.ok(Number(second.headers.age) >= 0);
  assert.deepEqual(second.body, css);
});

test('the ETag is derived from the content: the same on another node and after a restart', async () => {
  const other = await startTestEdge({ origin: origin.dir });
  try {
    const a = await request(`${edge.url}/assets/logo-BwT4yKxK.png`);
    const b = await request(`${other.url}/assets/logo-BwT4yKxK.png`);
    assert.equal(a.status, 200);
    assert.equal(a.headers.etag, b.headers.etag);
    const digest = createHash('sha256').update(png).digest('base64url').slice(0, 22);
    assert.equal(a.headers.etag, `"${digest}"`);
    assert.equal(a.headers['content-type'], 'image/png');
    assert.equal(a.headers.vary, undefined, 'incompressible types have no variants and no Vary');
  } finally {
    await other.close();
  }
});

test('HEAD carries the same headers as GET and no body', async () => {
  const get = await request(`${edge.url}/assets/site-0492830483.css`);
  const head = await request(`${edge.url}/assets/site-0492830483.css`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  for (const name of ['content-type', 'content-length', 'cache-control', 'etag', 'last-modified', 'accept-ranges', 'vary']) {
    assert.equal(head.headers[name], get.headers[name], name);
  }
});

test('the query string and Host are not part of the key: they cannot poison or split the cache', async () => {
  await request(`${edge.url}/assets/site-0492830483.css`);
  const withQuery = await request(`${edge.url}/assets/site-0492830483.css?utm=1&v=2`);
  assert.equal(withQuery.headers['cache-status'], 'hashedge; hit');
  const otherHost = await request(`${edge.url}/assets/site-0492830483.css`, { headers: { host: 'evil.example' } });
  assert.equal(otherHost.headers['cache-status'], 'hashedge; hit');
  assert.deepEqual(otherHost.body, css);
});

test('a name without a content hash is refused with an explanation', async () => {
  const res = await request(`${edge.url}/assets/plain.css`);
  assert.equal(res.status, 404);
  assert.equal(errorCode(res), 'E_NOT_HASHED');
  assert.match(res.headers['content-type'] ?? '', /^application\/json/);
  assert.match(res.body.toString(), /content-hashed/);
});

test('--allow-unhashed serves such names with a short max-age', async () => {
  const lenient = await startTestEdge({ origin: origin.dir, 'allow-unhashed': true, 'unhashed-ttl': '30s' });
  try {
    const res = await request(`${lenient.url}/assets/plain.css`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-control'], 'public, max-age=30');
    assert.deepEqual(res.body, css);
    const again = await request(`${lenient.url}/assets/plain.css`);
    assert.equal(again.headers['cache-status'], 'hashedge; hit');
  } finally {
    await lenient.close();
  }
});

test('hostile paths never reach a file outside the origin', async () => {
  const cases: Array<[string, number, string]> = [
    ['/../../../etc/passwd', 400, 'E_TRAVERSAL'],
    ['/assets/%2e%2e/%2e%2e/etc/passwd', 400, 'E_TRAVERSAL'],
    ['/assets%2f..%2f..%2fetc%2fpasswd', 400, 'E_BAD_PATH'],
    ['/assets/..%5c..%5csecret', 400, 'E_BAD_PATH'],
    ['/assets/site-0492830483.css%00.png', 400, 'E_BAD_PATH'],
    ['/%252e%252e/etc/passwd', 400, 'E_BAD_PATH'],
    ['/.env', 404, 'E_DOTFILE'],
    ['/assets/link-0492830483.txt', 404, 'E_NOT_FOUND'], // a symlink out of the root
  ];
  for (const [path, status, code] of cases) {
    const res = await request(edge.url, { path });
    assert.equal(res.status, status, path);
    assert.equal(errorCode(res), code, path);
    assert.doesNotMatch(res.body.toString(), /outside the origin|SECRET|root:|\n\s+at /, path);
  }
});

test('an over-long URL gets 414', async () => {
  const res = await request(edge.url, { path: '/' + 'a'.repeat(3000) + '-0492830483.js' });
  assert.equal(res.status, 414);
  assert.equal(errorCode(res), 'E_URI_TOO_LONG');
});

test('a missing asset is 404 and the origin is not asked again within --negative-ttl', async () => {
  const res = await request(`${edge.url}/assets/gone-0492830483.js`);
  assert.equal(res.status, 404);
  assert.equal(errorCode(res), 'E_NOT_FOUND');
  assert.equal(res.headers['cache-control'], 'public, max-age=10');
  const again = await request(`${edge.url}/assets/gone-0492830483.js`);
  assert.equal(again.status, 404);
  assert.equal(again.headers['cache-status'], 'hashedge; hit');
});

test('methods other than GET, HEAD and OPTIONS get 405 with Allow', async () => {
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const res = await request(`${edge.url}/assets/site-0492830483.css`, { method });
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.allow, 'GET, HEAD, OPTIONS');
    assert.equal(errorCode(res), 'E_METHOD_NOT_ALLOWED');
  }
});

test('a cross-origin page can load the assets: CORS, CORP and preflight', async () => {
  const res = await request(`${edge.url}/assets/site-0492830483.css`, { headers: { origin: 'https://example.com' } });
  assert.equal(res.headers['access-control-allow-origin'], '*');
  assert.equal(res.headers['cross-origin-resource-policy'], 'cross-origin');
  const preflight = await request(`${edge.url}/assets/site-0492830483.css`, {
    method: 'OPTIONS',
    headers: { origin: 'https://example.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'range' },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers['access-control-allow-origin'], '*');
  assert.equal(preflight.headers['access-control-allow-headers'], 'range');
  assert.match(preflight.headers['access-control-allow-methods'] ?? '', /GET/);
});

test('--cors-origin with a list echoes allowed page origins only, with Vary: Origin', async () => {
  const strict = await startTestEdge({ origin: origin.dir, 'cors-origin': 'https://example.com,https://www.example.com' });
  try {
    const allowed = await request(`${strict.url}/assets/site-0492830483.css`, { headers: { origin: 'https://www.example.com' } });
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://www.example.com');
    assert.equal(allowed.headers.vary, 'Accept-Encoding, Origin');
    const other = await request(`${strict.url}/assets/site-0492830483.css`, { headers: { origin: 'https://evil.example' } });
    assert.equal(other.status, 200);
    assert.equal(other.headers['access-control-allow-origin'], undefined);
  } finally {
    await strict.close();
  }
});

test('health and stats answer under /_hashedge/', async () => {
  const live = await request(`${edge.url}/_hashedge/health/live`);
  assert.equal(live.status, 200);
  const stats = JSON.parse((await request(`${edge.url}/_hashedge/stats`)).body.toString());
  assert.ok(stats.counters.hits >= 1);
  assert.ok(stats.cache.bytes > 0);
  assert.equal(stats.cache.budgetBytes, 512 * 1024 * 1024);
});
