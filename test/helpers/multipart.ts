/** multipart/byteranges bodies (RFC 9110 §14.6 / RFC 2046) as their parts, read byte-exact. */
import assert from 'node:assert/strict';

export interface Part {
  headers: Record<string, string>;
  body: Buffer;
}

/** A multipart/byteranges body (RFC 9110 §14.6 / RFC 2046) as its parts, read byte-exact. */
export function parseMultipart(body: Buffer, boundary: string): Part[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const next = Buffer.from(`\r\n--${boundary}`);
  const parts: Part[] = [];
  let pos = body.indexOf(delimiter);
  assert.ok(pos >= 0, 'no opening boundary');
  for (;;) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString('latin1') === '--') break; // close delimiter
    assert.equal(body.subarray(pos, pos + 2).toString('latin1'), '\r\n', 'boundary not followed by CRLF');
    pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    assert.ok(headerEnd >= 0, 'part headers not terminated');
    const headers: Record<string, string> = {};
    for (const line of body.subarray(pos, headerEnd).toString('latin1').split('\r\n')) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const start = headerEnd + 4;
    const end = body.indexOf(next, start);
    assert.ok(end >= 0, 'part not terminated by a boundary');
    parts.push({ headers, body: body.subarray(start, end) });
    pos = end + 2;
  }
  return parts;
}
