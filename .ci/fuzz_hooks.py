"""schemathesis hooks for .ci/fuzz-api: two rules a schema cannot state.

- An Idempotency-Key reused with a different body is rightly refused (422, as the IETF
  Idempotency-Key draft asks), but the fuzzer draws keys from a small space and reuses
  them across unrelated requests. Each well-formed key it sends is made unique; malformed
  ones are left alone, so the server's refusal of them is still tested.
- A replay window needs `since` before `until` (default now); a schema-valid window in the
  wrong order is rightly refused with 422. Positive cases get their window put in order.
- A key's `expires_at` must be in the future; a schema-valid time in the past is rightly
  refused with 422. Positive cases get a time a day ahead.

Cases that leave a parameter out on purpose are sent as generated: editing them makes
schemathesis re-derive what the case tests, and it would then send the left-out header.
"""
import re
import uuid
from datetime import datetime, timedelta, timezone

import schemathesis

WELL_FORMED_KEY = re.compile(r"^[!-~]{1,255}$")


def _parse_time(value):
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else None


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    meta = case.meta
    data = getattr(getattr(meta, "phase", None), "data", None)
    if str(getattr(getattr(data, "scenario", None), "value", "")) == "missing_parameter":
        return
    negative = str(getattr(getattr(meta, "generation", None), "mode", "")).lower().endswith("negative")

    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and WELL_FORMED_KEY.match(key):
        headers["Idempotency-Key"] = uuid.uuid4().hex

    body = case.body
    if case.operation.path.endswith("/replay") and not negative and isinstance(body, dict):
        since = _parse_time(body["since"]) if isinstance(body.get("since"), str) else None
        until = body.get("until")
        until = _parse_time(until) if isinstance(until, str) else datetime.now(timezone.utc)
        if since is not None and until is not None and since >= until:
            try:
                since = until - timedelta(days=1)
            except OverflowError:
                # `until` at the first representable instant has nothing before it:
                # use a window that ends now instead.
                until = datetime.now(timezone.utc)
                since = until - timedelta(days=1)
                body["until"] = until.strftime("%Y-%m-%dT%H:%M:%SZ")
            body["since"] = since.strftime("%Y-%m-%dT%H:%M:%SZ")

    if case.operation.path.endswith("/keys") and not negative and isinstance(body, dict):
        expires = _parse_time(body["expires_at"]) if isinstance(body.get("expires_at"), str) else None
        if expires is not None and expires <= datetime.now(timezone.utc):
            body["expires_at"] = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
