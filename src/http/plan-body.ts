/**
 * Writes a plan's body (response-plan.ts) to a response once its head is out: the one piece the
 * HTTP/1 and HTTP/2 writers share, since a ServerResponse and an Http2Stream are both Writable.
 */
import { pipeline, type Writable } from 'node:stream';
import { pumpFill } from './fill-stream.js';
import { isFileBody, isFillBody, isStreamBody, type PlanBody } from './response-plan.js';

/** Sends body and ends the response; every source but memory is read as the client takes it. */
export function writePlanBody(body: Exclude<PlanBody, undefined>, sink: Writable): void {
  if (Buffer.isBuffer(body)) {
    sink.end(body);
  } else if (isFillBody(body)) {
    void pumpFill(body.fill, sink, body.start, body.end);
  } else if (isFileBody(body)) {
    // Piped, not respondWithFD/sendfile: the disk tier's stream counts what it reads and fails on
    // a short file; an I/O error mid-file destroys the response (a cut, never wrong bytes), and a
    // client that goes away (HTTP/1 close, HTTP/2 reset) closes the file.
    pipeline(body.file.readParts(body.parts), sink, () => {});
  } else if (isStreamBody(body)) {
    // Backpressure end to end (socket buffer or HTTP/2 flow-control window); a client that goes
    // away destroys the origin stream with it.
    pipeline(body.stream, sink, (err) => {
      if (err) body.onError(err);
    });
  } else {
    for (const part of body) sink.write(part);
    sink.end();
  }
}
