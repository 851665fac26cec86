// fast-gateway as the bench runs it: one route with weighted balancing, set up the way its docs and its
// demos/target-load-balancer.js show (a proxyHandler that sets proxyOpts.base per request).
// Usage: node bench/fast-gateway.cjs '<json>' with { targets: [{ url, weight }], prefix, rewrite }.
'use strict';
const gateway = require('fast-gateway');

const { targets, prefix, rewrite } = JSON.parse(process.argv[2]);
// Each target repeated `weight` times: one random index per request, O(1), the same split as
// edgegate's weighted-random balancer (10/2/2/4 → 18 slots).
const slots = [];
for (const t of targets) for (let k = 0; k < t.weight; k++) slots.push(t.url);

const server = gateway({
  routes: [
    {
      prefix,
      prefixRewrite: rewrite,
      target: targets[0].url,
      methods: ['GET'],
      proxyHandler: (req, res, url, proxy, proxyOpts) => {
        proxyOpts.base = slots[Math.floor(Math.random() * slots.length)];
        return proxy(req, res, url, proxyOpts);
      },
    },
  ],
});

server.start(0, '127.0.0.1').then((s) => {
  process.stderr.write(`fast-gateway listening on http://127.0.0.1:${s.address().port}\n`);
});
process.once('SIGTERM', () => server.close().then(() => process.exit(0)));
