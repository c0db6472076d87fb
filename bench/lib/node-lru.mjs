// The memory workload's Node anchor: the least a Node process can be while doing hashedge's job
// on one node. node:http, lru-cache bounded by bytes (the budget hashedge is given), a miss read
// from the disk origin with fs.readFile. No compression, no request collapsing, no metrics, no
// cluster: what is left of its resident set above the budget is Node's own (binary, V8 heaps,
// Buffers not yet collected, malloc), the floor hashedge's figure is read against.
// Plain JavaScript run by `node` itself, so no loader's memory is counted. GET /_stats: hits and
// misses so far, for the bench's hit-ratio column.
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(join(process.env.NODE_BASE, 'package.json'));
const { LRUCache } = require('lru-cache');

const [origin, port, budgetBytes] = [process.env.ORIGIN, Number(process.argv[2]), Number(process.argv[3])];
const cache = new LRUCache({ maxSize: budgetBytes, sizeCalculation: (body) => body.length || 1 });
const NAME = /^\/[\w.-]+$/;
const counters = { hits: 0, misses: 0 };

http
  .createServer(async (req, res) => {
    if (req.url === '/_stats') return void res.end(JSON.stringify(counters));
    let body = cache.get(req.url);
    if (body) counters.hits++;
    else {
      counters.misses++;
      if (!NAME.test(req.url)) return void res.writeHead(404).end();
      try {
        body = await readFile(join(origin, req.url));
      } catch {
        return void res.writeHead(404).end();
      }
      if (body.length <= budgetBytes) cache.set(req.url, body);
    }
    res.writeHead(200, { 'content-length': body.length, 'cache-control': 'public, max-age=31536000, immutable' });
    res.end(body);
  })
  .listen(port, '127.0.0.1');
