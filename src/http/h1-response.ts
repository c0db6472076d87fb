/**
 * The HTTP/1 writer of response plans (response-plan.ts): the edge server's response class,
 * EdgeResponse (prepared heads) that also writes a whole plan. A prepared hit goes out as its
 * serialised head plus an Age line; everything else through writeHead().
 */
import type { IncomingMessage } from 'node:http';
import { pipeline } from 'node:stream';
import { pumpFill } from './fill-stream.js';
import { EdgeResponse } from './prepared-head.js';
import { isFileBody, isFillBody, isStreamBody, type ResponsePlan, type ResponseSink } from './response-plan.js';

export class H1Response<Request extends IncomingMessage = IncomingMessage> extends EdgeResponse<Request> implements ResponseSink {
  get clientAddress(): string | undefined {
    return this.req.socket.remoteAddress;
  }

  get protocol(): 'http/1.1' {
    return 'http/1.1';
  }

  sendPlan(plan: ResponsePlan): void {
    if (plan.prepared !== undefined) this.writePreparedHead(plan.status, plan.prepared, `age: ${plan.age ?? 0}\r\n`);
    else this.writeHead(plan.status, plan.headers);
    const body = plan.body;
    if (body === undefined || Buffer.isBuffer(body)) {
      this.end(body);
    } else if (isFillBody(body)) {
      void pumpFill(body.fill, this, body.start, body.end);
    } else if (isFileBody(body)) {
      // Read as the socket drains; an I/O error mid-file destroys the response (a cut, never
      // wrong bytes; counted by the disk tier), as does a client that goes away (the file closed).
      pipeline(body.file.read(body.start, body.end), this, () => {});
    } else if (isStreamBody(body)) {
      // Backpressure end to end; a client that goes away destroys the origin stream with it.
      pipeline(body.stream, this, (err) => {
        if (err) body.onError(err);
      });
    } else {
      for (const part of body) this.write(part);
      this.end();
    }
  }
}
