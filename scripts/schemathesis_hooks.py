"""Schemathesis hooks for Herald (loaded by scripts/schemathesis through
SCHEMATHESIS_HOOKS).

- Every call gets its credentials just before it is sent: the admin token for
  the admin API, and for `/v1` a fresh app JWT (HS256 keyed with the
  base64-decoded app secret; iss = api key, iat, exp = iat + 300, a new jti),
  because a `/v1` token is single-use and cannot be a static header.
- A publish names the seeded user (who has a webhook connection) whenever
  the generated `uid` is a string, so the publish path reaches its targets.
- Every answer's status is appended to HERALD_ST_STATUSES as
  `<METHOD> <path template> <status>`, for the script's reach check.
"""

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import uuid

import schemathesis

API_KEY = os.environ["HERALD_ST_API_KEY"]
SECRET = base64.b64decode(os.environ["HERALD_ST_SECRET"])
ADMIN = os.environ["HERALD_ST_ADMIN"]
SEED_UID = os.environ["HERALD_ST_UID"]
STATUSES = os.environ["HERALD_ST_STATUSES"]
_lock = threading.Lock()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def app_token() -> str:
    iat = int(time.time())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = _b64(
        json.dumps(
            {"iss": API_KEY, "iat": iat, "exp": iat + 300, "jti": uuid.uuid4().hex}
        ).encode()
    )
    signing_input = f"{header}.{claims}".encode()
    sig = hmac.new(SECRET, signing_input, hashlib.sha256).digest()
    return f"{header}.{claims}.{_b64(sig)}"


@schemathesis.hook
def before_call(context, case, kwargs):
    case.headers = case.headers or {}
    path = case.operation.path
    if path.startswith("/v1/"):
        case.headers["Authorization"] = f"Bearer {app_token()}"
    elif path.startswith("/admin/"):
        case.headers["Authorization"] = f"Bearer {ADMIN}"
    if path == "/v1/actions" and isinstance(case.body, dict) and isinstance(case.body.get("uid"), str):
        case.body["uid"] = SEED_UID


@schemathesis.hook
def after_call(context, case, response):
    line = f"{case.operation.method.upper()} {case.operation.path} {response.status_code}\n"
    with _lock, open(STATUSES, "a") as f:
        f.write(line)
