"""Airlock's own schemathesis checks, loaded with SCHEMATHESIS_HOOKS=airlock_checks (scripts/fuzz).

Beside schemathesis's standard checks: an error names what is wrong, and nothing answers 5xx
(the standard not_a_server_error check says so too; a 503 here would mean the store or engine
went away during the run, which the run must not cause).
"""
import json

import schemathesis

# Codes of errors about the request itself: each must say which field is at fault.
FIELD_CODES = {"invalid_request", "not_found", "body_too_large"}


@schemathesis.check
def error_names_field(ctx, response, case):
    """A 4xx about the request (400, 404 of a name, 413) is the API's error shape and names the field."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        raise AssertionError(f"{response.status_code} with a body that is not JSON: {response.content[:200]!r}")
    if response.status_code == 403 and isinstance(body, dict) and body.get("allowed") is False:
        return None  # a denial (`Denial`), not an error
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not error.get("code") or not error.get("message"):
        raise AssertionError(f"{response.status_code} without the error shape {{error: {{code, message}}}}: {body}")
    if response.status_code == 400 or error["code"] in FIELD_CODES:
        field = error.get("field")
        if not isinstance(field, str) or not field:
            raise AssertionError(f"{response.status_code} {error['code']} does not name the field: {body}")
    return None
