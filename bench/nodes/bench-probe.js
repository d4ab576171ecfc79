// A sink for benchmarks: counts and timestamps what reaches it, at the least cost a node can have.
'use strict';
/* global performance */
module.exports = function (RED) {
  function BenchProbe(config) {
    RED.nodes.createNode(this, config);
    const probe = (globalThis.__benchProbe ??= { count: 0, arrivals: new Map() });
    this.on('input', (msg, _send, done) => {
      probe.count++;
      if (msg.seq !== undefined) probe.arrivals.set(msg.seq, performance.now());
      else if (typeof msg.payload === 'string' && msg.payload.startsWith('seq:'))
        probe.arrivals.set(Number(msg.payload.slice(4)), performance.now());
      done();
    });
  }
  RED.nodes.registerType('bench-probe', BenchProbe);
};
