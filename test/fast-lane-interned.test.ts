/**
 * The fast lane's intern table (src/http/fast-lane/interned.ts) and the head parser's use of it.
 * Whether a string came from the table or was made anew is seen through the table's `make`
 * (passed in): a lookup that makes no string returned one the table kept. What it returns must
 * always equal latin1() of the bytes: for repeats, for different bytes of one slot and of one
 * full hash, for input too long to keep, and after the source buffer's bytes change (the lane's
 * read buffer is reused for every read).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashBytes, InternTable, latin1, type MakeString } from '../src/http/fast-lane/interned.js';
import { scanHead, type LaneRequest } from '../src/http/fast-lane/head-parser.js';

/** A table whose strings are made by latin1 and counted. */
function counted(entries: number, maxLength: number): { table: InternTable; made: () => number } {
  let made = 0;
  const make: MakeString = (buf, start, end) => {
    made++;
    return latin1(buf, start, end);
  };
  return { table: new InternTable(entries, maxLength, make), made: () => made };
}

/** `text`'s bytes at offset `at` of a larger buffer (other bytes around them). */
function placed(text: string, at = 7): Buffer {
  const buf = Buffer.alloc(at + text.length + 5, 0x2a);
  buf.write(text, at, 'latin1');
  return buf;
}

test('the same bytes give the same string, made once, from any buffer and offset', () => {
  const { table, made } = counted(64, 256);
  const target = '/assets/app-5f3a9c1e.js';
  const first = table.intern(placed(target, 3), 3, 3 + target.length);
  assert.equal(first, target);
  assert.equal(made(), 1);
  for (const at of [0, 3, 11, 40]) {
    assert.equal(table.intern(placed(target, at), at, at + target.length), target);
  }
  assert.equal(made(), 1, 'repeats made no string: the kept one was returned');
});

test('the empty input and single bytes are interned like any other', () => {
  const { table, made } = counted(16, 8);
  const buf = Buffer.from('xyz', 'latin1');
  assert.equal(table.intern(buf, 1, 1), '');
  assert.equal(table.intern(buf, 2, 2), '');
  assert.equal(table.intern(buf, 1, 2), 'y');
  assert.equal(table.intern(buf, 1, 2), 'y');
  assert.equal(made(), 2);
});

test('different bytes of one slot each give their own string', () => {
  // two slots: of three inputs, two share one. A pair shares one when the first, looked up again
  // after the second, is made again (the second replaced it).
  const texts = Array.from({ length: 3 }, (_, i) => `/asset${String(i).padStart(5, '0')}-0123456789.css`);
  const intern = (table: InternTable, text: string): string => table.intern(placed(text), 7, 7 + text.length);
  let shared: { a: string; b: string; table: InternTable; made: () => number } | undefined;
  for (const a of texts) {
    for (const b of texts) {
      if (a === b || shared !== undefined) continue;
      const { table, made } = counted(2, 64);
      intern(table, a);
      intern(table, b);
      intern(table, a);
      if (made() === 3) shared = { a, b, table, made };
    }
  }
  assert.ok(shared !== undefined, 'two of three inputs share one of two slots');
  const { a, b, table, made } = shared;
  for (let round = 0; round < 3; round++) {
    assert.equal(intern(table, b), b);
    assert.equal(intern(table, a), a);
  }
  assert.equal(made(), 9, 'each replaced the other, every time');
});

test('bytes of the same length and full hash are compared, not trusted', () => {
  // 8-byte inputs numbered by a counter until two have one hash (birthday: ~80,000 expected)
  const seen = new Map<number, number>();
  const bytes = (n: number): Buffer => {
    const buf = Buffer.alloc(8);
    buf.writeUInt32LE(n, 0);
    buf.writeUInt32LE(Math.imul(n, 0x2545f491) >>> 0, 4);
    return buf;
  };
  let twin: [Buffer, Buffer] | undefined;
  for (let n = 0; n < 2_000_000 && twin === undefined; n++) {
    const hash = hashBytes(bytes(n), 0, 8);
    const other = seen.get(hash);
    if (other === undefined) seen.set(hash, n);
    else twin = [bytes(other), bytes(n)];
  }
  assert.ok(twin !== undefined, 'found two inputs of one hash');
  const [a, b] = twin;
  assert.notDeepEqual(a, b);
  assert.equal(hashBytes(a, 0, 8), hashBytes(b, 0, 8));
  const { table, made } = counted(4096, 16);
  assert.equal(table.intern(a, 0, 8), latin1(a, 0, 8));
  assert.equal(table.intern(b, 0, 8), latin1(b, 0, 8));
  assert.equal(table.intern(a, 0, 8), latin1(a, 0, 8));
  assert.equal(made(), 3, 'each replaced the other');
  assert.equal(table.intern(a, 0, 8), latin1(a, 0, 8));
  assert.equal(made(), 3);
});

test('input longer than maxLength is made every time and not kept', () => {
  const { table, made } = counted(16, 32);
  const fits = '/' + 'a'.repeat(31);
  const long = '/' + 'b'.repeat(32);
  assert.equal(table.intern(placed(fits), 7, 7 + fits.length), fits);
  assert.equal(table.intern(placed(fits), 7, 7 + fits.length), fits);
  assert.equal(made(), 1, 'maxLength bytes are kept');
  for (let i = 0; i < 3; i++) assert.equal(table.intern(placed(long), 7, 7 + long.length), long);
  assert.equal(made(), 4, 'one byte more is made each time');
});

test('bytes changed in the source buffer after interning give the new bytes, and the old string stays right', () => {
  const { table, made } = counted(64, 64);
  const buf = placed('/assets/a-0000000001.js');
  const start = 7;
  const end = start + '/assets/a-0000000001.js'.length;
  const first = table.intern(buf, start, end);
  assert.equal(first, '/assets/a-0000000001.js');
  // the read buffer is reused: the next read writes other bytes over the same offsets
  buf.write('/assets/b-0000000002.js', start, 'latin1');
  assert.equal(table.intern(buf, start, end), '/assets/b-0000000002.js');
  assert.equal(first, '/assets/a-0000000001.js', 'a returned string never changes');
  // one byte changed, the rest the same
  buf.write('/assets/b-0000000003.js', start, 'latin1');
  assert.equal(table.intern(buf, start, end), '/assets/b-0000000003.js');
  buf.write('/assets/a-0000000001.js', start, 'latin1');
  assert.equal(table.intern(buf, start, end), '/assets/a-0000000001.js');
  assert.ok(made() >= 3);
});

test('the table checks its bounds', () => {
  for (const entries of [0, 1, 3, 1000, 131072, 2.5]) assert.throws(() => new InternTable(entries, 16), RangeError);
  for (const maxLength of [-1, 1.5, Number.NaN]) assert.throws(() => new InternTable(16, maxLength), RangeError);
});

test('a random mix of inputs always gives latin1() of the bytes', () => {
  const { table } = counted(8, 24);
  let seed = 12345;
  const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const pool = Array.from({ length: 40 }, () => Buffer.from(Array.from({ length: next() % 30 }, () => next() % 256)));
  const read = Buffer.alloc(64);
  for (let i = 0; i < 5000; i++) {
    const src = pool[next() % pool.length]!;
    const at = next() % (read.length - src.length);
    read.fill(next() % 256);
    src.copy(read, at);
    assert.equal(table.intern(read, at, at + src.length), latin1(src, 0, src.length));
  }
});

// The head parser, over one reused buffer as the lane reads.

function head(target: string, acceptEncoding?: string): string {
  return `GET ${target} HTTP/1.1\r\nHost: example.com\r\n${acceptEncoding === undefined ? '' : `Accept-Encoding: ${acceptEncoding}\r\n`}\r\n`;
}

function scanIn(read: Buffer, text: string): LaneRequest {
  read.fill(0);
  read.write(text, 0, 'latin1');
  const scan = scanHead(read, 0, text.length, false); // as the lane reads: the whole buffer, and where its read ends
  assert.equal(typeof scan, 'object');
  return scan as LaneRequest;
}

test('scanHead gives the target and Accept-Encoding as sent, read after read in one buffer', () => {
  const read = Buffer.alloc(4096);
  const cases: Array<[string, string | undefined]> = [
    ['/assets/app-5f3a9c1e.js', 'gzip, deflate, br, zstd'],
    ['/assets/app-5f3a9c1f.js', 'gzip, deflate, br'],
    ['/assets/app-5f3a9c1e.js', 'gzip, deflate, br, zstd'],
    ['/assets/app-5f3a9c1e.js?v=1', 'br;q=1.0, gzip;q=0.8, *;q=0.1'],
    ['/', ''],
    ['/' + 'x'.repeat(300), 'identity'],
    ['/' + 'x'.repeat(300), undefined],
    ['/' + 'x'.repeat(299) + 'y', 'gzip'],
  ];
  for (let round = 0; round < 3; round++) {
    for (const [target, acceptEncoding] of cases) {
      const req = scanIn(read, head(target, acceptEncoding));
      assert.equal(req.target, target);
      assert.equal(req.acceptEncoding, acceptEncoding);
    }
  }
});

test('scanHead: a long read (four bytes a load) and a short one give the same strings', () => {
  const read = Buffer.alloc(4096);
  const target = '/assets/app-5f3a9c1e.js';
  const short = scanIn(read, head(target, 'gzip'));
  const padded = head(target, 'gzip').replace('\r\n\r\n', `\r\nX-Pad: ${'p'.repeat(200)}\r\n\r\n`);
  const long = scanIn(read, padded);
  assert.equal(short.target, target);
  assert.equal(long.target, target);
  assert.equal(long.acceptEncoding, 'gzip');
});
