/**
 * Certificate renewal in place, as certbot and cert-manager do it: a new certificate and key
 * renamed over the files the node was started with are served to the next new connection,
 * while a connection made with the old certificate finishes its download undisturbed. A pair
 * that does not load keeps the current certificate.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFileSync, renameSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { connect as connectH2, type ClientHttp2Session } from 'node:http2';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { resolveConfig } from '../src/config.js';
import { LANE_SUFFIX, laneFlags } from './helpers/h2-lane.js';
import { startEdge, type Edge } from '../src/edge.js';
import { requestH2 } from './helpers/http.js';
import { diskOrigin, type TempDir } from './helpers/temp-dir.js';
import { edgeTls, type EdgeTls, type TestCertificate } from './helpers/tls.js';

const BIG = '/assets/video-0492830483.bin';
/** Far more than HTTP/2's 64 KiB stream window: the paused download is mid-way for sure. */
const big = randomBytes(4 * 1024 * 1024);

let tls: EdgeTls;
let first: TestCertificate;
let second: TestCertificate;
let origin: TempDir;
let edge: Edge;
/** The paths the node was started with; renewals are renamed over them. */
let certFile: string;
let keyFile: string;

before(async () => {
  tls = edgeTls();
  first = tls.cert;
  second = tls.ca.issue('second');
  const live = join(tls.ca.dir, 'live');
  await mkdir(live);
  certFile = join(live, 'fullchain.pem');
  keyFile = join(live, 'privkey.pem');
  copyFileSync(first.certFile, certFile);
  copyFileSync(first.keyFile, keyFile);
  origin = await diskOrigin({ [BIG]: big }, 'tls-reload');
  edge = await startEdge(resolveConfig({ port: '0', host: '127.0.0.1', origin: origin.dir, 'tls-cert': certFile, 'tls-key': keyFile, ...laneFlags() }, {}));
  assert.equal((await requestH2(`${edge.url}${BIG}`, { ca: tls.ca.caPem })).status, 200); // cached
});

after(async () => {
  await edge?.close();
  await origin?.remove();
  tls?.remove();
});

/** Installs a pair the way certbot does: a new file renamed over the old one. */
function install(cert: string, key: string): void {
  copyFileSync(key, `${keyFile}.new`);
  copyFileSync(cert, `${certFile}.new`);
  renameSync(`${keyFile}.new`, keyFile);
  renameSync(`${certFile}.new`, certFile);
}

/** The leaf certificate a new TLS connection to the edge is given. */
async function servedFingerprint(): Promise<string> {
  const socket: TLSSocket = connectTls({ host: '127.0.0.1', port: edge.port, ca: tls.ca.caPem, servername: 'localhost', ALPNProtocols: ['h2'] });
  await once(socket, 'secureConnect');
  const fingerprint = socket.getPeerCertificate().fingerprint256;
  socket.destroy();
  return fingerprint;
}

test('a certificate renamed over the old one is served to the next connection; an open download on the old one completes' + LANE_SUFFIX, async () => {
  assert.equal(await servedFingerprint(), first.fingerprint256);

  // A download on the first certificate, paused after its first bytes.
  const session: ClientHttp2Session = connectH2(edge.url, { ca: tls.ca.caPem, servername: 'localhost' });
  try {
    const download = session.request({ ':path': BIG });
    const chunks: Buffer[] = [];
    download.on('data', (chunk: Buffer) => chunks.push(chunk));
    const [headers] = (await once(download, 'response')) as [Record<string, string | number>];
    assert.equal(headers[':status'], 200);
    await once(download, 'data');
    download.pause();

    const reloaded = once(edge.tls!, 'reload');
    install(second.certFile, second.keyFile);
    await reloaded;
    assert.equal(await servedFingerprint(), second.fingerprint256, 'a new connection gets the new certificate');
    assert.equal((await requestH2(`${edge.url}${BIG}`, { ca: tls.ca.caPem })).body.length, big.length, 'and is served');

    const received = chunks.reduce((n, c) => n + c.length, 0);
    assert.ok(received < big.length, `the old download is still under way (${received} of ${big.length} bytes)`);
    download.resume();
    await once(download, 'end');
    assert.ok(Buffer.concat(chunks).equals(big), 'the old connection finished its download');
    assert.equal((session.socket as TLSSocket).getPeerCertificate().fingerprint256, first.fingerprint256, 'on the old certificate');
  } finally {
    session.close();
  }
});

test('a key that does not match its certificate is refused: the current certificate stays, and reload() says so' + LANE_SUFFIX, async () => {
  const failed = once(edge.tls!, 'reload-failed');
  install(second.certFile, first.keyFile); // half a renewal
  const [err] = (await failed) as [Error & { code?: string }];
  assert.equal(err.code, 'E_CONFIG');
  assert.equal(edge.reloadTls(), false);
  assert.equal(await servedFingerprint(), second.fingerprint256);
  assert.equal((await requestH2(`${edge.url}${BIG}`, { ca: tls.ca.caPem })).status, 200);

  install(first.certFile, first.keyFile);
  assert.equal(edge.reloadTls(), true); // as on SIGHUP
  assert.equal(await servedFingerprint(), first.fingerprint256);
});

test('a certificate file that cannot be read stops the start-up with E_CONFIG naming the option' + LANE_SUFFIX, async () => {
  const config = resolveConfig({ port: '0', host: '127.0.0.1', origin: origin.dir, 'tls-cert': join(tls.ca.dir, 'missing.pem'), 'tls-key': keyFile }, {});
  await assert.rejects(startEdge(config), (err: Error & { code?: string }) => err.code === 'E_CONFIG' && /^--tls-cert .*missing\.pem: cannot read it \(ENOENT\)/.test(err.message));
});
