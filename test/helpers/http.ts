/** A raw HTTP client for tests: no automatic decompression, exact headers, whole body. */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { connect as connectH2 } from 'node:http2';
import { request as httpsRequest } from 'node:https';

export interface TestResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export function request(url: string, options: { method?: string; headers?: Record<string, string>; path?: string } = {}): Promise<TestResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = httpRequest(
      { host: u.hostname, port: u.port, method: options.method ?? 'GET', path: options.path ?? u.pathname + u.search, headers: options.headers, agent: false },
      (res) => collect(res, resolve, reject),
    );
    req.on('error', reject);
    req.end();
  });
}

/** Reads a response whole into a TestResponse. */
function collect(res: IncomingMessage, resolve: (r: TestResponse) => void, reject: (err: Error) => void): void {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
  res.on('error', reject);
}

/** The JSON error code of an error response. */
export function errorCode(res: TestResponse): string | undefined {
  return (JSON.parse(res.body.toString('utf8')) as { error?: { code?: string } }).error?.code;
}

export interface TlsRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** The CA the server's certificate must chain to. */
  ca: Buffer;
}

/** HTTP/1.1 over TLS (no ALPN offered, so the server picks http/1.1), one connection per request. */
export function requestHttps(url: string, options: TlsRequestOptions): Promise<TestResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = httpsRequest(
      { host: u.hostname, port: u.port, method: options.method ?? 'GET', path: u.pathname + u.search, headers: options.headers, ca: options.ca, servername: 'localhost', agent: false },
      (res) => collect(res, resolve, reject),
    );
    req.on('error', reject);
    req.end();
  });
}

/** HTTP/2 (ALPN h2), one session per request; pseudo-headers are left out of `headers`. */
export function requestH2(url: string, options: TlsRequestOptions): Promise<TestResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const session = connectH2(u.origin, { ca: options.ca, servername: 'localhost' });
    session.on('error', reject);
    const req = session.request({ ':method': options.method ?? 'GET', ':path': u.pathname + u.search, ...options.headers });
    const chunks: Buffer[] = [];
    let status = 0;
    let headers: IncomingHttpHeaders = {};
    req.on('response', (h) => {
      status = Number(h[':status']);
      headers = Object.fromEntries(Object.entries(h).filter(([name]) => !name.startsWith(':'))) as IncomingHttpHeaders;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      session.close();
      resolve({ status, headers, body: Buffer.concat(chunks) });
    });
    req.on('error', (err) => {
      session.destroy();
      reject(err);
    });
    req.end();
  });
}
