// Warm-latency worker: loads bundled handlers once, then runs requests sent by the parent over IPC and answers with
// the handler's own latency (ms, from just before the call to its result). Requests run one after another.
// Messages: {id, op: 'load', subjects: {name: 'path[#export]'}} | {id, op: 'invoke', subject, event}
//           | {id, op: 'repeat', subject, event, n, placeholder}  (replaces `placeholder` in event.body by a counter)
//           | {id, op: 'env', vars}  (sets environment variables)
//           | {id, op: 'memory'}  (after a full GC when --expose-gc)
'use strict';
const handlers = {};
let counter = 0;

async function timed(subject, event) {
  const h = handlers[subject];
  if (!h) throw new Error(`unknown subject ${subject}`);
  const t0 = performance.now();
  const res = await h(event, { awsRequestId: `warm-${counter}`, getRemainingTimeInMillis: () => 30000 });
  const ms = performance.now() - t0;
  // HTTP handlers answer with a statusCode; workers with a status (`replied`, `done`, `skipped`).
  return { ms, status: res && typeof res === 'object' ? res.statusCode ?? res.status : undefined, body: res && res.body };
}

function memory() {
  if (global.gc) { global.gc(); global.gc(); }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external };
}

process.on('message', async (msg) => {
  try {
    let result;
    if (msg.op === 'load') {
      for (const [name, spec] of Object.entries(msg.subjects)) {
        const [file, exportName] = spec.split('#');
        const fn = require(file)[exportName || 'handler'];
        if (typeof fn !== 'function') throw new Error(`${spec} exports no function`);
        handlers[name] = fn;
      }
      result = { loaded: Object.keys(handlers) };
    } else if (msg.op === 'invoke') {
      counter += 1;
      result = await timed(msg.subject, msg.event);
      if (!msg.keepBody) delete result.body;
    } else if (msg.op === 'repeat') {
      const ms = [];
      const statuses = {};
      const template = msg.event.body;
      for (let i = 0; i < msg.n; i++) {
        counter += 1;
        const event = { ...msg.event, body: template.split(msg.placeholder).join(String(counter)) };
        const r = await timed(msg.subject, event);
        ms.push(r.ms);
        statuses[r.status] = (statuses[r.status] || 0) + 1;
      }
      result = { ms, statuses };
    } else if (msg.op === 'env') {
      Object.assign(process.env, msg.vars);
      result = { ok: true };
    } else if (msg.op === 'memory') {
      result = memory();
    } else {
      throw new Error(`unknown op ${msg.op}`);
    }
    process.send({ id: msg.id, ok: true, result });
  } catch (err) {
    process.send({ id: msg.id, ok: false, error: `${err && err.name}: ${err && err.message}` });
  }
});
process.send({ ready: true });
