// One cold start: a fresh Node process loads a bundled handler and serves its first request.
// argv: <bundle.js> <event.json>. Prints one line `BENCH_RESULT {...}` (timings in ms) on stdout.
// performance.now() counts from the process's time origin, so `sinceProcessStart` includes Node's own boot.
'use strict';
const fs = require('node:fs');
const [bundle, eventFile] = process.argv.slice(2);
const event = JSON.parse(fs.readFileSync(eventFile, 'utf8'));
const t0 = performance.now();
const mod = require(bundle);
const t1 = performance.now();
Promise.resolve(mod.handler(event, { awsRequestId: 'cold', getRemainingTimeInMillis: () => 30000 })).then((res) => {
  const t2 = performance.now();
  const out = {
    status: res && typeof res === 'object' ? res.statusCode ?? res.status : undefined, // HTTP status or worker status
    loadMs: t1 - t0,
    firstRequestMs: t2 - t1,
    totalMs: t2 - t0,
    sinceProcessStartMs: t2,
    rssBytes: process.memoryUsage().rss,
  };
  process.stdout.write(`\nBENCH_RESULT ${JSON.stringify(out)}\n`, () => process.exit(0));
}, (err) => {
  process.stdout.write(`\nBENCH_RESULT ${JSON.stringify({ error: String(err && err.name) + ': ' + String(err && err.message) })}\n`, () => process.exit(1));
});
