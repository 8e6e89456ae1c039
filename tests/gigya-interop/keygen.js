#!/usr/bin/env node
// Writes a fresh 2048-bit RSA test keypair: <dir>/private.pem (PKCS#8, what the
// SDK's `privateKey` takes) and <dir>/public.pem (SPKI, for
// `herald keys add-rsa --public-key`). Generated per test run, never committed.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node keygen.js <dir>');
  process.exit(2);
}
const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, 'private.pem'), privateKey, { mode: 0o600 });
fs.writeFileSync(path.join(dir, 'public.pem'), publicKey);
console.log(JSON.stringify({ private: path.join(dir, 'private.pem'), public: path.join(dir, 'public.pem') }));
