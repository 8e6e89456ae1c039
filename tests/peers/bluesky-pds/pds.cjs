// An @atproto/pds configured from PDS_* environment variables, served on an
// HTTP server the caller already bound (so the port is known before the PDS's
// public URL is derived from it). The same steps as PDS.start(), which would
// bind every interface. Used by run.cjs; `node pds.cjs` alone binds
// 127.0.0.1:PDS_PORT.
'use strict';
const events = require('node:events');
const http = require('node:http');
const { createHttpTerminator } = require('http-terminator');
const { PDS, envToCfg, envToSecrets, readEnv } = require('@atproto/pds');
const pkg = require('@atproto/pds/package.json');

/** Starts the PDS on `server` (listening already); resolves to the PDS. */
async function startPds(server) {
  const env = readEnv();
  env.version ||= pkg.version;
  const cfg = envToCfg(env);
  const pds = await PDS.create(cfg, envToSecrets(env));
  await pds.ctx.sequencer.start();
  server.keepAliveTimeout = 90000;
  server.on('request', pds.app);
  pds.server = server;
  pds.terminator = createHttpTerminator({ server });
  return pds;
}

module.exports = { startPds, version: pkg.version };

if (require.main === module) {
  (async () => {
    const server = http.createServer();
    server.listen(Number(process.env.PDS_PORT || 2583), '127.0.0.1');
    await events.once(server, 'listening');
    await startPds(server);
    console.log(`pds ${pkg.version} listening`, server.address());
  })().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
