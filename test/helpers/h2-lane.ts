/**
 * Which HTTP/2 server a TLS test file runs against: node:http2 (`--h2-lane off`) or hashedge's
 * HTTP/2 lane (`on`). A file runs with the lane when HASHEDGE_TEST_H2_LANE=on, which the
 * `*-lane.test.ts` files set before they import the file they parameterise, so both servers
 * pass the same tests without copies of them.
 */
import type { RawOptions } from '../../src/config.js';

export const H2_LANE: 'on' | 'off' = process.env.HASHEDGE_TEST_H2_LANE === 'on' ? 'on' : 'off';

/** The flag for the server under test. */
export function laneFlags(): RawOptions {
  return { 'h2-lane': H2_LANE };
}

/** " (HTTP/2 lane)" when the lane is under test, for test names. */
export const LANE_SUFFIX = H2_LANE === 'on' ? ' (HTTP/2 lane)' : '';
