// An in-memory did:plc directory (@did-plc/server's Database.mock()) bound to
// 127.0.0.1: the PDS registers every new account's DID here. Used by run.cjs;
// `node plc.cjs` alone serves on PLC_PORT (default 2582).
'use strict';
const events = require('node:events');
const { PlcServer, Database } = require('@did-plc/server');

/** Listens on 127.0.0.1:`port` (0 = any free port); resolves to the server. */
async function startPlc(port = 0) {
  const plc = PlcServer.create({ db: Database.mock(), port });
  // PlcServer.start() would bind every interface.
  const server = plc.app.listen(port, '127.0.0.1');
  await events.once(server, 'listening');
  return server;
}

module.exports = { startPlc };

if (require.main === module) {
  startPlc(Number(process.env.PLC_PORT || 2582)).then(
    (s) => console.log('plc listening', s.address()),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
