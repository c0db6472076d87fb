/**
 * Giving a connection to node:http, for good, with the bytes the fast lane read but did not
 * answer put back in front of the stream: the technique of servers that sniff a protocol
 * before choosing a handler (`socket.unshift(bytes)`, then the http.Server's own 'connection'
 * listener). From here node:http and llhttp own the connection, its parsing, its errors and
 * its timeouts; the lane never sees it again.
 *
 * Usually the socket reads into the lane's own buffer (read-buffer.ts), or is flowing with nothing
 * buffered (the lane takes every read as it comes), and the bytes are simply emitted as 'data' to
 * node:http's listener once it is attached, as handOverAtEnd() does. Otherwise (the lane had paused it, waiting for 'drain', and it may have
 * read more meanwhile) the bytes go back into the stream, and the order matters (Node 20 to 26 alike):
 *  1. the socket is paused first, so the unshifted bytes stay in its readable buffer instead of
 *     being emitted at once as 'data' while the socket is still flowing with no listener;
 *  2. node:http's listener attaches its 'data' listener (which does not resume a paused
 *     socket) and makes its parser consume the socket's handle: bytes that arrive from now on
 *     go to llhttp directly;
 *  3. resume() then delivers the buffered bytes (ours first, then any the socket read while
 *     paused) through that 'data' listener on the next tick, before libuv can read more.
 * test/fast-lane.test.ts sends heads split across writes and pipelined after lane answers to
 * hold this.
 *
 * What node:http then sends is what it sends for those bytes read in one go. For one pattern
 * that is not what it would have sent had it read them itself: pipelined requests followed by
 * one llhttp rejects. node:http destroys the connection at the parse error, and the responses
 * to the earlier requests that are still queued in the socket (corked) are lost with it, or
 * not, depending on how the stream was cut into reads; the lane answers its hits at once, so
 * with it a client may get more of those responses, or fewer of node:http's. The differential
 * test (test/fast-lane-fuzz.test.ts) names that case and compares everything else exactly.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export type ConnectionListener = (this: Server, socket: Socket) => void;

export function handOver(server: Server, nodeListener: ConnectionListener, socket: Socket, unread: Buffer | undefined, ownReads: boolean): void {
  if (ownReads) {
    // The socket read into the lane's buffer (read-buffer.ts): its stream holds nothing, and it
    // reads again as soon as it is resumed. node:http's 'data' listener does not resume a socket
    // the lane paused (waiting for 'drain'): resumed after the bytes, as below.
    const paused = socket.isPaused();
    nodeListener.call(server, socket);
    if (unread !== undefined && unread.length > 0) socket.emit('data', unread);
    if (paused) socket.resume();
    return;
  }
  if (socket.readableFlowing === true && socket.readableLength === 0) {
    // The usual case (the lane was reading the socket as bytes came, and holds all it read):
    // node:http is given the bytes as the 'data' event it would have had, at once: no pause,
    // unshift and resume, which cost every handed-over connection a 'pause' and a 'resume'
    // event, a tick and a pass through the stream's buffer.
    nodeListener.call(server, socket);
    if (unread !== undefined && unread.length > 0) socket.emit('data', unread);
    return;
  }
  // The socket is paused (the lane waited for 'drain') and may hold bytes it read meanwhile:
  // ours go in front of them.
  socket.pause();
  if (unread !== undefined && unread.length > 0) socket.unshift(unread);
  nodeListener.call(server, socket);
  socket.resume();
}

/**
 * The client ended its side while the lane held the start of a head. A stream cannot take
 * bytes back after its 'end', so node:http is given them as the events it would have seen had
 * it owned the connection all along: the bytes, then the end (its parser then judges the
 * truncated head exactly as without the lane: `400 Bad Request`).
 */
export function handOverAtEnd(server: Server, nodeListener: ConnectionListener, socket: Socket, unread: Buffer): void {
  nodeListener.call(server, socket);
  socket.emit('data', unread);
  socket.emit('end');
}
