/**
 * The HTTP/1 writer of response plans (response-plan.ts): the edge server's response class,
 * EdgeResponse (prepared heads) that also writes a whole plan. A prepared hit goes out as its
 * serialised head plus an Age line; everything else through writeHead().
 */
import type { IncomingMessage } from 'node:http';
import { EdgeResponse } from './prepared-head.js';
import { writePlanBody } from './plan-body.js';
import type { ResponsePlan, ResponseSink } from './response-plan.js';

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
    if (plan.body === undefined) this.end();
    else writePlanBody(plan.body, this);
  }
}
