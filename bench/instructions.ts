/**
 * Instructions and system calls per request of one `hashedge serve` process: counts that other
 * tenants of a shared machine do not change, unlike wall-clock and CPU time. The server runs
 * under valgrind's callgrind (instructions) or with strace -c -f attached (system calls); after
 * a warm-up the counters are zeroed (callgrind_control -z) or strace is attached, exactly `n`
 * requests of one shape are sent, and the counts read (callgrind_control -d, or strace's summary
 * when it detaches). Each figure is divided by `n`, so start-up is never in it.
 *
 *   npx tsx bench/instructions.ts shape=hit [close=1] [lane=off] [tool=callgrind|strace] [n=2000] [warm=2000] [h2load=0] [wrk=0] [c=4] [dir=/tmp/hashedge-bench]
 *
 * Shapes (the bench's, on the kit's corpus): hit (the 1990-byte css), zipf (paths.txt under
 * Zipf s=1, seeded, identity bytes as wrk asks), 304 (If-None-Match of the css's ETag), 206
 * (Range: bytes=0-99), 416 (Range: bytes=999999-, past its end), 404 (an unknown key,
 * remembered), nothashed (/index.html: a page file, refused 404 E_NOT_HASHED before any origin
 * request), options (a CORS preflight of the css: OPTIONS with Origin, Access-Control-Request-Method
 * and -Headers, answered 204), delete (a DELETE of the css, 405: a method the lane hands over),
 * browser (the css as a hit again, with the head Chrome 131 on Linux sends for a stylesheet, 548
 * bytes at a 5-digit port: Host, Connection: keep-alive, sec-ch-ua-platform, User-Agent,
 * sec-ch-ua, sec-ch-ua-mobile, Accept, Sec-Fetch-Site/-Mode/-Dest, Referer, Accept-Encoding: gzip,
 * deflate, br, zstd, Accept-Language, in Chrome's order; the br variant answers: what the lane's
 * head parser costs on a real browser's head, where `hit` sends a 66-byte one).
 * close=1 sends each request on a new connection with `Connection: close`; otherwise `c`
 * kept-alive connections send them in turn.
 * `extra='--access-log on'` adds serve flags; `cli=<path>/dist/cli.js` measures another build;
 * `keep=1` keeps callgrind's files for callgrind_annotate; `node='--single-threaded'` adds Node flags
 * (with it V8 compiles and collects garbage on the main thread, in step with the requests: the
 * counts then vary less from run to run than with its background threads).
 * `h2load=<requests>` (kept alive) or `wrk=<seconds>` (either) add that many requests of h2load
 * --h1, or that long a run of wrk, 4 connections sending the shape's request, to the warm-up:
 * under valgrind this client gets ~200 requests/s through and wrk ~1,300, and V8 was still
 * compiling and deoptimizing (`--trace-opt --trace-deopt`) until ~100,000 requests had been
 * answered, so without them the counts carry JIT work a long-running node does not pay (a
 * count, h2load's, warms the same under any load; wrk's seconds do not). For shape=zipf, wrk
 * draws the paths with the kit's zipf.lua (h2load sends the first path only).
 * The client is this process (not counted); every answer's status is checked, and for hit and
 * browser (lane on, no wrk) that the lane answered all `n` (traffic.fastLane.hits moved by `n` and h2load's).
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { straced } from './lib/strace.js';
import { freePort } from './lib/proc.js';
import { zipfSampler } from './lib/zipf.js';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const SHAPE = args.shape ?? 'hit';
const CLOSE = args.close === '1';
const LANE = (args.lane ?? 'on') !== 'off';
const TOOL = args.tool ?? 'callgrind';
const N = Number(args.n ?? 2000);
const WARM = Number(args.warm ?? 2000);
/** Seconds of wrk after the warm-up (the JIT settled: see the header). */
const WRK = Number(args.wrk ?? 0);
/** Requests of h2load --h1 after the warm-up (kept alive only). */
const H2LOAD = Number(args.h2load ?? 0);
const CONCURRENCY = Number(args.c ?? 4);
const DIR = args.dir ?? '/tmp/hashedge-bench';
const EXTRA = args.extra ? args.extra.split(' ') : [];
/** Node flags of the server, e.g. `node=--single-threaded`: V8 compiles and collects on the main thread, so the counts vary less. */
const NODE_FLAGS = args.node ? args.node.split(' ') : [];
/** The build to measure (another checkout's dist/cli.js, for a before/after). */
const CLI = args.cli ?? fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const KIT = fileURLToPath(new URL('./kit/', import.meta.url));
const HOT_PATH = '/asset00140-68ac0ac684.css';
const ORIGIN = join(DIR, 'origin');

interface Request {
  /** GET unless said. */
  readonly method?: string;
  readonly path: string;
  readonly header: string;
  readonly expect: number;
  /** Connection (keep-alive, or close with close=1) goes right after Host, as a browser sends it; otherwise close=1 adds it last. */
  readonly browser?: true;
}

async function main(): Promise<void> {
  if (!existsSync(join(DIR, 'paths.txt'))) execFileSync('python3', [join(KIT, 'make_corpus.py'), ORIGIN, '2000'], { stdio: 'inherit' });
  const port = await freePort();
  const out = mkdtempSync(join(tmpdir(), 'hashedge-instr-'));
  const serve = [CLI, 'serve', '--host', '127.0.0.1', '--port', String(port), '--origin', ORIGIN, '--cache-size', '1GiB', '--log-level', 'warn', ...(LANE ? [] : ['--fast-lane', 'off']), ...EXTRA];
  const argv = TOOL === 'callgrind'
    ? ['valgrind', '--tool=callgrind', '--separate-threads=yes', `--callgrind-out-file=${join(out, 'cg.out')}`, process.execPath, ...NODE_FLAGS, ...serve]
    : [process.execPath, ...NODE_FLAGS, ...serve];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output = (output + String(c)).slice(-4096)));
  child.stderr.on('data', (c: Buffer) => (output = (output + String(c)).slice(-4096)));
  const base = `http://127.0.0.1:${port}`;
  try {
    await ready(base, child.pid!, () => output);
    const requests = await workload(base);
    // warm-up: fills, compression settled, the JIT warm
    if (SHAPE === 'zipf') for (const path of readFileSync(join(DIR, 'paths.txt'), 'utf8').split('\n').filter(Boolean)) await (await fetch(base + path)).arrayBuffer();
    else await (await fetch(base + HOT_PATH)).arrayBuffer();
    await settled(base);
    await send(port, requests(WARM));
    // read here, not just before the measured requests: this request (handed to node:http) then
    // left V8 compiling in the counts (main thread +10k instructions a hit; bench/RESULTS.md)
    const hitsBefore = await laneHits(base);
    if (WRK > 0 || H2LOAD > 0) warmWithLoad(port, requests(1)[0]!);
    const measured = requests(N);
    let counts: Record<string, number>;
    if (TOOL === 'callgrind') {
      execFileSync('callgrind_control', ['-z', String(child.pid)], { stdio: 'ignore' });
      await send(port, measured);
      execFileSync('callgrind_control', ['-d', String(child.pid)], { stdio: 'ignore' });
      counts = callgrindTotals(out);
    } else {
      counts = await straced(child.pid!, () => send(port, measured));
    }
    // hit and browser are the lane's to answer: a head it handed over to node:http would also get its 200
    // h2load's requests and the measured ones (wrk's are not counted: their number is not known)
    const hits = (await laneHits(base)) - hitsBefore - H2LOAD;
    if (LANE && WRK === 0 && (SHAPE === 'hit' || SHAPE === 'browser') && hits !== N) throw new Error(`${hits} of ${N} requests (and h2load's ${H2LOAD}) were fast-lane hits`);
    const label = `${SHAPE}${CLOSE ? ', Connection: close' : ', kept alive'}, lane ${LANE ? 'on' : 'off'}`;
    console.log(`${label}: ${N} requests (${TOOL}, ${hits} fast-lane hits), per request:`);
    for (const [name, count] of Object.entries(counts).sort((a, b) => b[1] - a[1])) console.log(`  ${name.padEnd(24)} ${(count / N).toFixed(TOOL === 'callgrind' ? 0 : 3)}`);
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
    if (args.keep === '1') console.log(`callgrind files kept in ${out} (callgrind_annotate <file>)`);
    else rmSync(out, { recursive: true, force: true });
  }
}

/** The request sequence of the shape: a function of how many. */
async function workload(base: string): Promise<(n: number) => Request[]> {
  const repeat = (r: Request) => (n: number) => Array.from({ length: n }, () => r);
  switch (SHAPE) {
    case 'hit':
      return repeat({ path: HOT_PATH, header: '', expect: 200 });
    case '304': {
      // the identity representation's ETag (fetch() would ask for br, and get that variant's)
      const etag = (await fetch(base + HOT_PATH, { headers: { 'accept-encoding': 'identity' } })).headers.get('etag');
      return repeat({ path: HOT_PATH, header: `If-None-Match: ${etag}\r\n`, expect: 304 });
    }
    case '206':
      return repeat({ path: HOT_PATH, header: 'Range: bytes=0-99\r\n', expect: 206 });
    case '416':
      return repeat({ path: HOT_PATH, header: 'Range: bytes=999999-\r\n', expect: 416 });
    case '404':
      return repeat({ path: '/asset99999-0492830483.css', header: '', expect: 404 });
    case 'nothashed':
      return repeat({ path: '/index.html', header: '', expect: 404 });
    case 'options':
      return repeat({ method: 'OPTIONS', path: HOT_PATH, header: 'Origin: https://app.example\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: range\r\n', expect: 204 });
    case 'delete':
      return repeat({ method: 'DELETE', path: HOT_PATH, header: '', expect: 405 });
    case 'browser':
      return repeat({ path: HOT_PATH, header: chromeHeaders(base), expect: 200, browser: true });
    case 'zipf': {
      const paths = readFileSync(join(DIR, 'paths.txt'), 'utf8').split('\n').filter(Boolean);
      let seed = 1;
      return (n) => {
        const next = zipfSampler(paths.length, 1, seed++);
        return Array.from({ length: n }, () => ({ path: paths[next()]!, header: '', expect: 200 }));
      };
    }
    default:
      throw new Error(`unknown shape ${SHAPE}`);
  }
}

/**
 * The header lines after Host of Chrome 131's (Linux) request for a stylesheet of the page at
 * `base`, in the order and with the values Chrome 131 on Linux sends. Connection is left to
 * send() (keep-alive, or close with close=1), Host too: both go first, as Chrome sends them.
 */
function chromeHeaders(base: string): string {
  return [
    'sec-ch-ua-platform: "Linux"',
    'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    'sec-ch-ua: "Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"',
    'sec-ch-ua-mobile: ?0',
    'Accept: text/css,*/*;q=0.1',
    'Sec-Fetch-Site: same-origin',
    'Sec-Fetch-Mode: no-cors',
    'Sec-Fetch-Dest: style',
    `Referer: ${base}/`,
    'Accept-Encoding: gzip, deflate, br, zstd',
    'Accept-Language: en-US,en;q=0.9',
  ].map((line) => `${line}\r\n`).join('');
}

async function ready(base: string, pid: number, output: () => string): Promise<void> {
  const deadline = Date.now() + 600_000; // valgrind on a loaded machine can take minutes
  for (;;) {
    const ok = await fetch(`${base}/_hashedge/stats`).then(async (r) => ((await r.json()) as { ready: boolean }).ready, () => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`not ready: ${output()}`);
    try {
      process.kill(pid, 0);
    } catch {
      throw new Error(`exited: ${output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * The node's fast-lane hits so far (/_hashedge/stats), on a connection of its own (fetch() would
 * reuse one kept alive from before the warm-up, which the server has closed since), asked as
 * fetch() asks, with `Connection: keep-alive`.
 */
async function laneHits(base: string): Promise<number> {
  const { hostname, port } = new URL(base);
  const socket = connect(Number(port), hostname);
  let text = '';
  socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
  await once(socket, 'connect');
  socket.write(`GET /_hashedge/stats HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: keep-alive\r\n\r\n`);
  for (;;) {
    const end = text.indexOf('\r\n\r\n');
    const length = end === -1 ? undefined : Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1]);
    if (length !== undefined && text.length >= end + 4 + length) {
      socket.destroy();
      return (JSON.parse(text.slice(end + 4, end + 4 + length)) as { traffic: { fastLane: { hits: number } } }).traffic.fastLane.hits;
    }
    if (socket.destroyed || socket.readableEnded) throw new Error(`/_hashedge/stats: ${text.slice(0, 200)}`);
    await once(socket, 'data');
  }
}

/** Waits until no variant is waiting for the encoder (as the bench does before measuring). */
async function settled(base: string): Promise<void> {
  for (;;) {
    const text = await (await fetch(`${base}/metrics`)).text();
    if (Number(/^hashedge_cache_pending_variants (\S+)$/m.exec(text)?.[1] ?? NaN) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** H2LOAD requests of h2load, then WRK seconds of wrk, sending `r` (the JIT's warm-up at a rate valgrind allows; answers not checked). */
function warmWithLoad(port: number, r: Request): void {
  if ((r.method ?? 'GET') !== 'GET') throw new Error('h2load= and wrk= send GET only: warm a GET shape with them');
  const lines = [...r.header.split('\r\n').filter(Boolean), ...(CLOSE ? ['Connection: close'] : r.browser ? ['Connection: keep-alive'] : [])];
  const url = `http://127.0.0.1:${port}${r.path}`;
  if (H2LOAD > 0) {
    if (CLOSE) throw new Error('h2load= is for kept-alive shapes; use wrk= with close=1');
    execFileSync('h2load', ['--h1', '-n', String(H2LOAD), '-c4', ...lines.flatMap((h) => ['-H', h]), url], { stdio: 'ignore' });
  }
  // zipf: the kit's script draws the paths as the bench does (a single path would warm one body size only)
  const zipf = SHAPE === 'zipf' ? ['-s', join(KIT, 'zipf.lua')] : [];
  const env = { ...process.env, PATHS: join(DIR, 'paths.txt') };
  if (WRK > 0) execFileSync('wrk', ['-t1', '-c4', `-d${WRK}s`, ...zipf, ...lines.flatMap((h) => ['-H', h]), SHAPE === 'zipf' ? `http://127.0.0.1:${port}` : url], { stdio: 'ignore', env });
}

/** Sends the requests over CONCURRENCY connections (kept alive) or one connection each (close). */
async function send(port: number, requests: readonly Request[]): Promise<void> {
  let next = 0;
  const head = (r: Request) => {
    const line = `${r.method ?? 'GET'} ${r.path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`;
    if (r.browser) return `${line}Connection: ${CLOSE ? 'close' : 'keep-alive'}\r\n${r.header}\r\n`;
    return `${line}${r.header}${CLOSE ? 'Connection: close\r\n' : ''}\r\n`;
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    if (CLOSE) {
      while (next < requests.length) {
        const r = requests[next++]!;
        const status = await closeExchange(port, head(r));
        if (status !== r.expect) throw new Error(`${r.path}: ${status}, expected ${r.expect}`);
      }
      return;
    }
    const conn = new KeptAlive(port);
    await conn.connected;
    while (next < requests.length) {
      const r = requests[next++]!;
      const status = await conn.exchange(head(r));
      if (status !== r.expect) throw new Error(`${r.path}: ${status}, expected ${r.expect}`);
    }
    conn.close();
  }));
}

/** One request on a new connection; the status once the server has closed it. */
function closeExchange(port: number, head: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Number(Buffer.concat(chunks).toString('latin1', 9, 12))));
    // No FIN of our own first: node:http drops the answer to a half-closed request still waiting for its origin.
    socket.write(head);
  });
}

/** A kept-alive connection answering one request at a time (responses framed by Content-Length). */
class KeptAlive {
  readonly connected: Promise<void>;
  readonly #socket;
  #buf: Buffer = Buffer.alloc(0);
  #wait: (() => void) | undefined;

  constructor(port: number) {
    this.#socket = connect(port, '127.0.0.1');
    this.#socket.setNoDelay(true);
    this.connected = once(this.#socket, 'connect').then(() => {});
    this.#socket.on('data', (c: Buffer) => {
      this.#buf = this.#buf.length === 0 ? c : Buffer.concat([this.#buf, c]);
      this.#wait?.();
    });
  }

  async exchange(head: string): Promise<number> {
    this.#socket.write(head);
    for (;;) {
      const end = this.#buf.indexOf('\r\n\r\n');
      if (end !== -1) {
        const text = this.#buf.toString('latin1', 0, end);
        const status = Number(text.slice(9, 12));
        const length = status === 304 ? 0 : Number(/\r\ncontent-length: *(\d+)/i.exec(text)?.[1] ?? 0);
        if (this.#buf.length >= end + 4 + length) {
          this.#buf = this.#buf.subarray(end + 4 + length);
          return status;
        }
      }
      await new Promise<void>((resolve) => (this.#wait = resolve));
    }
  }

  close(): void {
    this.#socket.destroy();
  }
}

/**
 * Instructions per thread in the dump (thread 1 is the main thread: JavaScript and libuv's loop).
 * A dump in more than one part is reported part by part (and should not happen: one -z, one -d).
 */
function callgrindTotals(dir: string): Record<string, number> {
  const counts: Record<string, number> = {};
  const parts = new Set<string>();
  let all = 0;
  for (const file of readdirSync(dir).sort()) {
    const m = /\.(\d+)-(\d+)$/.exec(file);
    if (m === null) continue;
    parts.add(m[1]!);
    const text = readFileSync(join(dir, file), 'utf8');
    const total = Number(/^(?:totals|summary): (\d+)/m.exec(text)?.[1] ?? 0);
    counts[`instructions, part ${m[1]}, thread ${Number(m[2])}`] = total;
    all += total;
  }
  counts['instructions, all parts and threads'] = all;
  if (parts.size > 1) console.log(`warning: callgrind wrote ${parts.size} dump parts; each is listed`);
  return counts;
}

await main();
