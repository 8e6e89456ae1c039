// Starts an offline Bluesky PDS for tests, in this one process: an in-memory
// PLC directory and an @atproto/pds, both on 127.0.0.1 ports picked by the OS,
// with a fresh data directory and random secrets (PDS_* variables already set
// in the environment win). When /xrpc/_health answers it prints ONE line to
// stdout:
//
//   HERALD_PDS_READY {"url":"http://localhost:<port>","plc":"http://localhost:<port>",
//                     "version":"0.4.217","adminPassword":"…","jwtSecret":"…"}
//
// (url is also the PDS's public URL, the serviceEndpoint in its DID documents;
// handles end in `.test`). It exits, removing its data directory, when stdin
// closes — so a test that holds the pipe cannot leave it running, even when
// the test process is killed — or on SIGTERM/SIGINT.
'use strict';
const crypto = require('node:crypto');
const events = require('node:events');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { startPlc } = require('./plc.cjs');

const hex = (n) => crypto.randomBytes(n).toString('hex');
let dataDir = null;

function shutdown(code) {
  if (dataDir) {
    try {
      fs.rmSync(dataDir, { recursive: true, force: true });
    } catch {
      // best effort: a temp directory
    }
  }
  process.exit(code);
}

async function main() {
  const plc = await startPlc(0);
  const plcPort = plc.address().port;
  // Bound before the PDS is configured: its public URL names this port.
  const server = http.createServer();
  server.listen(0, '127.0.0.1');
  await events.once(server, 'listening');
  const port = server.address().port;

  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-pds-'));
  fs.mkdirSync(path.join(dataDir, 'blobs'));
  const defaults = {
    PDS_HOSTNAME: 'localhost',
    PDS_PORT: String(port),
    PDS_DATA_DIRECTORY: dataDir,
    PDS_BLOBSTORE_DISK_LOCATION: path.join(dataDir, 'blobs'),
    // `localhost`, not 127.0.0.1: the PDS's DID resolver refuses IP hosts.
    PDS_DID_PLC_URL: `http://localhost:${plcPort}`,
    PDS_JWT_SECRET: hex(16),
    PDS_ADMIN_PASSWORD: hex(12),
    PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: hex(32),
    PDS_INVITE_REQUIRED: 'false',
    PDS_DEV_MODE: 'true',
    // As on bsky.social: sessions carry the DID document (the PDS's URL).
    PDS_ENABLE_DID_DOC_WITH_SESSION: 'true',
  };
  for (const [k, v] of Object.entries(defaults)) {
    if (!process.env[k]) process.env[k] = v;
  }
  const { startPds, version } = require('./pds.cjs');
  await startPds(server);

  const health = `http://127.0.0.1:${port}/xrpc/_health`;
  const deadline = Date.now() + 30000;
  for (;;) {
    try {
      if ((await fetch(health)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${health} did not answer within 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const ready = {
    url: `http://localhost:${port}`,
    plc: `http://localhost:${plcPort}`,
    version,
    adminPassword: process.env.PDS_ADMIN_PASSWORD,
    jwtSecret: process.env.PDS_JWT_SECRET,
  };
  process.stdout.write(`HERALD_PDS_READY ${JSON.stringify(ready)}\n`);
}

process.stdin.on('end', () => shutdown(0));
process.stdin.on('close', () => shutdown(0));
process.stdin.resume();
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
main().catch((e) => {
  console.error('run.cjs:', e);
  shutdown(1);
});
