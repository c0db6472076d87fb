/**
 * Real HTTP/2 clients against the HTTP/2 lane (--h2-lane on): curl --http2 (nghttp2 inside
 * libcurl) gets the asset byte for byte with its headers, a miss and a refused admin path; h2load
 * (the bench's load generator: 4 connections x 32 streams, HPACK's dynamic table and Huffman
 * strings) gets every one of its requests answered 200 with the whole body, hits and fills.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolveConfig } from '../src/config.js';
import { startEdge, type Edge } from '../src/edge.js';
import { diskOrigin, type TempDir } from './helpers/temp-dir.js';
import { edgeTls, type EdgeTls } from './helpers/tls.js';

const CSS = '/assets/site-0492830483.css';
const BIN = '/assets/blob-0492830483.bin';
const css = Buffer.from('.c{color:red}\n'.repeat(142));
const bin = randomBytes(200_000);

let tls: EdgeTls;
let origin: TempDir;
let edge: Edge;

before(async () => {
  tls = edgeTls();
  origin = await diskOrigin({ [CSS]: css, [BIN]: bin }, 'h2clients');
  edge = await startEdge(resolveConfig({ port: '0', host: '127.0.0.1', origin: origin.dir, ...tls.flags, 'h2-lane': 'on' }, {}));
});

after(async () => {
  await edge?.close();
  await origin?.remove();
  tls?.remove();
});

function run(cmd: string, args: string[]): Promise<{ stdout: Buffer; code: number }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'buffer', maxBuffer: 64 << 20 }, (err, stdout) => resolve({ stdout, code: err === null ? 0 : Number((err as { code?: number }).code ?? 1) }));
  });
}

test('curl --http2 gets assets (a miss, then a hit of 200 KB over several DATA frames) byte for byte, and HTTP_1_1_REQUIRED makes it retry an admin path over HTTP/1.1', async () => {
  for (const [path, body] of [[BIN, bin], [BIN, bin], [CSS, css]] as const) {
    const res = await run('curl', ['-sS', '--http2', '--cacert', tls.ca.caFile, '-D', '-', '-o', '-', `https://localhost:${edge.port}${path}`, '--resolve', `localhost:${edge.port}:127.0.0.1`]);
    assert.equal(res.code, 0);
    const split = res.stdout.indexOf('\r\n\r\n');
    const head = res.stdout.subarray(0, split).toString('latin1');
    assert.match(head, /^HTTP\/2 200 ?\r\n/);
    assert.match(head, /\r\ncache-control: public, max-age=31536000, immutable\r\n/);
    assert.ok(res.stdout.subarray(split + 4).equals(body), `${path}: the body byte for byte`);
  }
  const admin = await run('curl', ['-sS', '--http2', '--cacert', tls.ca.caFile, '-o', '/dev/null', '-w', '%{http_version} %{http_code}', `https://localhost:${edge.port}/_hashedge/health/live`, '--resolve', `localhost:${edge.port}:127.0.0.1`]);
  assert.equal(admin.stdout.toString(), '1.1 200', 'retried over HTTP/1.1 after HTTP_1_1_REQUIRED');
});

test('h2load: 2,000 requests on 4 connections x 32 streams, every one answered 200 with the whole body', async () => {
  const res = await run('h2load', ['-n', '2000', '-c', '4', '-m', '32', `https://127.0.0.1:${edge.port}${CSS}`]);
  const out = res.stdout.toString();
  assert.equal(res.code, 0, out);
  assert.match(out, /requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored, 0 timeout/);
  assert.match(out, /status codes: 2000 2xx, 0 3xx, 0 4xx, 0 5xx/);
  // Bytes of bodies received: every response carried the whole css.
  assert.match(out, new RegExp(`\\(${2000 * css.length}\\) data`));
});

test('h2load: 48 misses of 1 MB filled through the lane on one connection, 16 streams at once, every one answered whole', { timeout: 60_000 }, async () => {
  // Fills are written through the lane's Writable (each chunk's callback once it went out)
  // while other streams wait for the socket: a stream left with DATA and not woken hangs h2load.
  const paths: string[] = [];
  for (let i = 0; i < 48; i++) {
    const path = `/assets/fill${i}-0492830483.bin`;
    await origin.write(path, randomBytes(1_000_000));
    paths.push(`https://127.0.0.1:${edge.port}${path}`);
  }
  await origin.write('uris.txt', paths.join('\n') + '\n');
  const res = await run('h2load', ['-n', '48', '-c', '1', '-m', '16', '-i', origin.path('uris.txt')]);
  const out = res.stdout.toString();
  assert.equal(res.code, 0, out);
  assert.match(out, /requests: 48 total, 48 started, 48 done, 48 succeeded, 0 failed, 0 errored, 0 timeout/);
  assert.match(out, new RegExp(`\\(${48 * 1_000_000}\\) data`));
});
