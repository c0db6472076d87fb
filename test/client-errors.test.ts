/**
 * Coded error answers to a client's mistake (404 refusals, 405, 416, 400) construct their
 * EdgeError without a stack trace (errors.ts says why). What a client sees of them is held here,
 * byte for byte, with the fast lane on (it holds some and hands others to node:http) and off;
 * and that errors of ours (5xx, origin, start-up) still carry the stack of where they were made.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PeerError } from '../src/cluster/peers.js';
import type { Edge } from '../src/edge.js';
import {
  ConfigError,
  EdgeError,
  MethodNotAllowedError,
  NotFoundError,
  OriginError,
  OriginTimeoutError,
  RequestPathError,
  UnauthorizedError,
} from '../src/errors.js';
import { startTestEdge } from './helpers/edge.js';
import { request, type TestResponse } from './helpers/http.js';
import { TestOrigin } from './helpers/origins.js';

const CSS = 'assets/style-0492830483.css';
const CSS_BODY = Buffer.from('.a { color: red; }\n'.repeat(50));
const T = { timeout: 30_000 };

interface Answer {
  readonly what: string;
  readonly send: (url: string) => Promise<TestResponse>;
  readonly status: number;
  readonly code: string;
  readonly message: string;
  /** Headers the answer carries besides the error's own. */
  readonly headers?: Record<string, string>;
}

/** Each answer as main's code gave it (the bodies were taken from it, not from this branch). */
const ANSWERS: Answer[] = [
  {
    what: 'a page file (not hashed)',
    send: (url) => request(`${url}/index.html`),
    status: 404,
    code: 'E_NOT_HASHED',
    message: 'Only immutable assets are served. It is not immutable (page file: an HTML page, never immutable); run the edge with --allow-unhashed to serve it with a short max-age.',
    headers: { 'cache-control': 'no-store' },
  },
  {
    what: 'DELETE',
    send: (url) => request(`${url}/${CSS}`, { method: 'DELETE' }),
    status: 405,
    code: 'E_METHOD_NOT_ALLOWED',
    message: 'Method "DELETE" is not allowed here; use GET, HEAD or OPTIONS.',
    headers: { allow: 'GET, HEAD, OPTIONS', 'cache-control': 'no-store' },
  },
  {
    what: 'a range past the end',
    send: (url) => request(`${url}/${CSS}`, { headers: { range: 'bytes=5000-' } }),
    status: 416,
    code: 'E_RANGE_NOT_SATISFIABLE',
    message: `The range is outside the asset's ${CSS_BODY.length} bytes.`,
    headers: { 'content-range': `bytes */${CSS_BODY.length}`, 'cache-control': 'no-store' },
  },
  {
    what: 'a dot segment',
    send: (url) => request(url, { path: '/assets/../style-0492830483.css' }),
    status: 400,
    code: 'E_TRAVERSAL',
    message: 'Dot segments (. and ..) are not allowed in asset paths.',
    headers: { 'cache-control': 'no-store' },
  },
  {
    what: 'a hashed key the origin does not have',
    send: (url) => request(`${url}/assets/gone-0492830483.css`),
    status: 404,
    code: 'E_NOT_FOUND',
    message: 'No such asset at the origin.',
    headers: { 'cache-control': 'public, max-age=10' },
  },
];

let origin: TestOrigin;
const edges = new Map<string, Edge>();

before(async () => {
  origin = new TestOrigin();
  origin.put(CSS, CSS_BODY);
  origin.put('index.html', '<!doctype html>');
  for (const lane of ['on', 'off']) edges.set(lane, await startTestEdge({ 'fast-lane': lane }, origin));
});

after(async () => {
  for (const edge of edges.values()) await edge.close();
});

for (const lane of ['on', 'off']) {
  test(`client errors answer with the same status, code header and JSON body, --fast-lane ${lane}`, T, async () => {
    const edge = edges.get(lane)!;
    const lanesBefore = edge.traffic.toJSON().fastLane;
    for (const a of ANSWERS) {
      const res = await a.send(edge.url);
      assert.equal(res.status, a.status, a.what);
      assert.equal(res.headers['x-hashedge-error'], a.code, a.what);
      assert.equal(res.headers['content-type'], 'application/json; charset=utf-8', a.what);
      assert.equal(res.body.toString('utf8'), JSON.stringify({ error: { code: a.code, message: a.message } }) + '\n', a.what);
      for (const [name, value] of Object.entries(a.headers ?? {})) assert.equal(res.headers[name], value, `${a.what}: ${name}`);
    }
    const lanes = edge.traffic.toJSON().fastLane;
    if (lane === 'on') {
      // Both of the lane's ways are covered: answers it holds, and ones node:http parses after a hand-over.
      assert.ok(lanes.held > lanesBefore.held, 'the lane held some of them');
      assert.ok(lanes.handovers > lanesBefore.handovers, 'the lane handed some to node:http');
    } else {
      assert.deepEqual(lanes, lanesBefore, 'no lane');
    }
    // The stack capture is turned off only while such an error is made: the embedding process's own errors keep theirs.
    assert.match(new Error('ours').stack ?? '', /\n\s+at /);
  });
}

function madeByTheOrigin(): EdgeError {
  return new OriginError('E_ORIGIN', 'The origin request failed.', new Error('ECONNREFUSED'));
}

test('an EdgeError answering a client mistake has no stack frames; errors of ours keep the stack of the call that made them', () => {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 13;
  try {
    const clientMistakes = [
      new RequestPathError('E_NOT_HASHED', 'Only immutable assets are served.'),
      new RequestPathError('E_TRAVERSAL', 'Dot segments (. and ..) are not allowed in asset paths.'),
      new RequestPathError('E_URI_TOO_LONG', 'The path is too long.'),
      new NotFoundError(),
      new MethodNotAllowedError('DELETE'),
      new UnauthorizedError(),
      new EdgeError('E_RANGE_NOT_SATISFIABLE', 416, "The range is outside the asset's 950 bytes."),
      new EdgeError('E_PRECONDITION_FAILED', 412, 'A precondition does not hold.'),
    ];
    for (const err of clientMistakes) {
      assert.equal(typeof err.stack, 'string');
      assert.equal(err.stack, `${err.name}: ${err.message}`, `${err.code} ${err.status}`);
    }
    assert.equal(Error.stackTraceLimit, 13, 'restored after each');

    const ours: Array<[EdgeError, RegExp]> = [
      [madeByTheOrigin(), /\n\s+at madeByTheOrigin \(.*client-errors\.test\.ts:\d+:\d+\)/],
      [new OriginTimeoutError(5000), /\n\s+at .*client-errors\.test\.ts:\d+:\d+/],
      [new PeerError('Peer http://10.0.0.2:8080 did not answer.'), /\n\s+at .*client-errors\.test\.ts:\d+:\d+/],
      [new EdgeError('E_METRICS_UNAVAILABLE', 503, 'retry the scrape', { expose: true }), /\n\s+at .*client-errors\.test\.ts:\d+:\d+/],
      [new ConfigError('--cache-size: expected at least 1MiB.'), /\n\s+at .*client-errors\.test\.ts:\d+:\d+/],
    ];
    for (const [err, callSite] of ours) {
      assert.ok(err.stack?.startsWith(`${err.name}: ${err.message}\n`), err.code);
      assert.match(err.stack ?? '', callSite, `${err.code} ${err.status}`);
    }
    assert.equal(Error.stackTraceLimit, 13);
  } finally {
    Error.stackTraceLimit = limit;
  }
});
