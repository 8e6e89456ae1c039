#!/usr/bin/env node
// Drives Herald's Gigya-compatible REST surface with the real, unmodified npm
// `gigya` SDK (3.0.1), once per credential mode:
//
//   secret  partner secret           apiKey + secret (needs HTTPS)
//   signed  userKey + secret         apiKey + userKey + timestamp + nonce + sig
//   rsa     userKey + RSA privateKey Authorization: Bearer <RS256 JWT, kid = userKey>
//
// The SDK always builds https://socialize.<dc>.gigya.com/<method> and signs over
// that URL. Its only hook for sending elsewhere is the proxy function
// `(endpoint, host, params, headers) => Promise<parsed JSON>`, called after
// signing. Only two constructor forms take one, `new Gigya(proxyFn)` and
// `new Gigya(apiKey, dc, proxyFn)`. In `new Gigya(apiKey, dc, secret, proxyFn)`
// the function is taken as the secret of a userKey pair, and the default
// https transport is kept. So each instance is built as
// `new Gigya(apiKey, 'us1', proxy)`, and `setCredentials(...)` then picks the
// signer.
//
// Config (env): HERALD_URL, API_KEY, PARTNER_SECRET, USER_KEY, USER_SECRET,
// RSA_USER_KEY, RSA_PRIVATE_KEY_FILE, UID_PREFIX (default "gigya-sdk").
// Optional: MODES (comma list, default "secret,signed,rsa"), DATA_CENTER
// (default "us1"), EXPECT_POST_ID (exact providerPostIDs.messenger value),
// MESSENGER_TOKEN (default "tok-1"), MESSENGER_UID (default "cid-42"),
// TIMEOUT_MS (global deadline, default 60000), REQUEST_TIMEOUT_MS (default 20000).
//
// Prints one JSON line per mode on stdout. Each request sent is logged on
// stderr, so the SDK's own retries can be seen. Exit code: 0 if every mode
// passed, 1 if a mode failed, 2 for bad config or the global deadline.
'use strict';

const fs = require('fs');
const { Gigya, GigyaError } = require('gigya');

const TIMEOUT_MS = Number(process.env.TIMEOUT_MS || 60000);
const REQUEST_TIMEOUT_MS = Number(process.env.REQUEST_TIMEOUT_MS || 20000);

// The SDK retries 500001/504001/409030 five times, 5 s apart, and sets no
// timeout of its own. Nothing may keep this script running forever.
const deadline = setTimeout(() => {
  console.error(`interop.js: global timeout after ${TIMEOUT_MS} ms (is the SDK retrying, or is Herald not answering?)`);
  process.exit(2);
}, TIMEOUT_MS);

function fail(msg) {
  console.error(`interop.js: ${msg}`);
  process.exit(2);
}

function need(name) {
  const v = process.env[name];
  if (!v) fail(`missing env ${name}`);
  return v;
}

const ALL_MODES = ['secret', 'signed', 'rsa'];
const MODES = (process.env.MODES || ALL_MODES.join(','))
  .split(',')
  .map((m) => m.trim())
  .filter(Boolean);
for (const m of MODES) {
  if (!ALL_MODES.includes(m)) fail(`unknown mode ${m} (known: ${ALL_MODES.join(', ')})`);
}

const HERALD_URL = need('HERALD_URL').replace(/\/+$/, '');
const API_KEY = need('API_KEY');
const PARTNER_SECRET = need('PARTNER_SECRET');
const UID_PREFIX = process.env.UID_PREFIX || 'gigya-sdk';
const DATA_CENTER = process.env.DATA_CENTER || 'us1';
const EXPECT_POST_ID = process.env.EXPECT_POST_ID || '';
const MESSENGER_TOKEN = process.env.MESSENGER_TOKEN || 'tok-1';
const MESSENGER_UID = process.env.MESSENGER_UID || 'cid-42';

function credentials(mode) {
  switch (mode) {
    case 'secret':
      return { secret: PARTNER_SECRET };
    case 'signed':
      return { userKey: need('USER_KEY'), secret: need('USER_SECRET') };
    case 'rsa':
      return {
        userKey: need('RSA_USER_KEY'),
        privateKey: fs.readFileSync(need('RSA_PRIVATE_KEY_FILE'), 'utf8'),
      };
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

// The form encoding of the SDK's default transport: `request` with `form:`,
// i.e. qs.stringify, where everything outside A-Z a-z 0-9 - . _ ~ is
// percent-encoded as UTF-8 with upper-case hex (space is %20), keys in the
// SDK's insertion order, undefined values skipped.
function encodeComponent(v) {
  return encodeURIComponent(String(v)).replace(
    /[!'()*]/g,
    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

function encodeForm(params) {
  return Object.keys(params)
    .filter((k) => params[k] !== undefined)
    .map((k) => `${encodeComponent(k)}=${encodeComponent(params[k])}`)
    .join('&');
}

// The proxy function: sends what the SDK built and signed to Herald instead of
// https://<host>/<endpoint>. `trace` collects what was sent (no secrets).
function heraldProxy(mode, trace) {
  return async (endpoint, host, params, headers) => {
    const url = `${HERALD_URL}/${endpoint}`;
    const sent = {
      endpoint,
      signedHost: host,
      params: Object.keys(params),
      auth: headers && headers.Authorization ? String(headers.Authorization).split(' ')[0] : null,
    };
    trace.push(sent);
    console.error(`[${mode}] POST ${url} (SDK host ${host}) params=${sent.params.join(',')}${sent.auth ? ` auth=${sent.auth}` : ''}`);
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        ...(headers || {}),
        'content-type': 'application/x-www-form-urlencoded',
        'x-forwarded-proto': 'https',
      },
      body: encodeForm(params),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    sent.httpStatus = res.status;
    let json;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new Error(`${endpoint}: HTTP ${res.status}, body is not JSON: ${text.slice(0, 500)}`);
    }
    console.error(`[${mode}]   -> HTTP ${res.status} errorCode=${json && json.errorCode}`);
    return json;
  };
}

function userAction(mode) {
  return {
    title: 'Crème brûlée recipe',
    linkBack: `https://news.example/a/caf%C3%A9?x=1&y=%20z&via=${mode}`,
    description: 'The best one',
    userMessage: 'Try this 👀 (it\'s *great*)',
    mediaItems: [
      { type: 'image', src: 'https://news.example/t.jpg', href: 'https://news.example/a/caf%C3%A9' },
    ],
  };
}

function check(problems, cond, what) {
  if (!cond) problems.push(what);
}

function checkEnvelope(problems, name, r) {
  check(problems, r && typeof r === 'object', `${name}: response is not an object`);
  if (!r || typeof r !== 'object') return;
  check(problems, r.errorCode === 0, `${name}: errorCode ${JSON.stringify(r.errorCode)}, want 0`);
  check(problems, r.statusCode === 200, `${name}: statusCode ${JSON.stringify(r.statusCode)}, want 200`);
  check(problems, typeof r.callId === 'string' && r.callId.length > 0, `${name}: no callId`);
  check(problems, typeof r.statusReason === 'string', `${name}: no statusReason`);
  check(problems, typeof r.time === 'string' && r.time.length > 0, `${name}: no time`);
  check(problems, r.apiVersion === 2, `${name}: apiVersion ${JSON.stringify(r.apiVersion)}, want 2`);
}

async function runMode(mode, creds) {
  const trace = [];
  const out = { mode, ok: false, requests: trace };
  const problems = [];
  try {
    const gigya = new Gigya(API_KEY, DATA_CENTER, heraldProxy(mode, trace));
    gigya.setCredentials(creds);

    const siteUID = `${UID_PREFIX}-${mode}`;
    const login = await gigya.socialize.notifyLogin({
      siteUID,
      providerSessions: {
        messenger: { authToken: MESSENGER_TOKEN, providerUID: MESSENGER_UID },
      },
    });
    out.notifyLogin = login;
    checkEnvelope(problems, 'notifyLogin', login);
    check(problems, login.UID === siteUID, `notifyLogin: UID ${JSON.stringify(login.UID)}, want ${JSON.stringify(siteUID)}`);
    check(problems, typeof login.UIDSignature === 'string' && login.UIDSignature.length > 0, 'notifyLogin: no UIDSignature');
    check(problems, login.signatureTimestamp !== undefined && login.signatureTimestamp !== '', 'notifyLogin: no signatureTimestamp');
    if (login.UIDSignature && login.signatureTimestamp !== undefined) {
      // What a site does with it: the SDK's own check, keyed with the partner secret.
      check(
        problems,
        gigya.sigUtils.validateUserSignature(login.UID, login.signatureTimestamp, login.UIDSignature, PARTNER_SECRET),
        'notifyLogin: UIDSignature does not validate with SigUtils.validateUserSignature and the partner secret',
      );
    }

    const uid = login.UID || siteUID;
    const publish = await gigya.socialize.publishUserAction({ UID: uid, userAction: userAction(mode) });
    out.publishUserAction = publish;
    checkEnvelope(problems, 'publishUserAction', publish);
    const postIDs = publish.providerPostIDs;
    check(problems, postIDs && typeof postIDs === 'object', 'publishUserAction: no providerPostIDs object');
    const messengerPost = postIDs && postIDs.messenger;
    check(problems, typeof messengerPost === 'string' && messengerPost.length > 0, 'publishUserAction: no providerPostIDs.messenger');
    if (EXPECT_POST_ID) {
      check(problems, messengerPost === EXPECT_POST_ID, `publishUserAction: providerPostIDs.messenger ${JSON.stringify(messengerPost)}, want ${JSON.stringify(EXPECT_POST_ID)}`);
    }
    check(problems, typeof publish.actionID === 'string' && publish.actionID.length > 0, 'publishUserAction: no actionID');
  } catch (e) {
    // The SDK is ES5-compiled: `new GigyaError()` yields a plain Error (so
    // instanceof fails) that carries errorCode and gigyaResponse.
    if (e instanceof GigyaError || (e && e.gigyaResponse !== undefined)) {
      out.error = { kind: 'GigyaError', errorCode: e.errorCode, message: e.message, response: e.gigyaResponse };
    } else {
      out.error = { kind: (e && e.name) || 'Error', message: String((e && e.message) || e) };
      if (e && e.cause) out.error.cause = String(e.cause.message || e.cause);
    }
    problems.push(`${out.error.kind}${out.error.errorCode !== undefined ? ` ${out.error.errorCode}` : ''}: ${out.error.message}`);
  }
  out.ok = problems.length === 0;
  if (!out.ok) out.problems = problems;
  return out;
}

// Config errors are reported before anything is sent.
const CREDS = {};
for (const mode of MODES) {
  try {
    CREDS[mode] = credentials(mode);
  } catch (e) {
    fail(`${mode}: ${e.message}`);
  }
}

(async () => {
  let failed = 0;
  for (const mode of MODES) {
    const r = await runMode(mode, CREDS[mode]);
    console.log(JSON.stringify(r));
    if (!r.ok) {
      failed++;
      console.error(`[${mode}] FAILED: ${r.problems.join('; ')}`);
    }
  }
  clearTimeout(deadline);
  // Exit now rather than wait for keep-alive sockets to close.
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.error(`interop.js: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
