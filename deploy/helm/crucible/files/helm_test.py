"""`helm test`: the gateway answers /health and generates a few tokens. Runs as `python -c` in the gateway image.

Standard library only. Settings from the environment (the chart's helmTest values); exit 0 and one line on success,
exit 1 and one line saying which call failed and why otherwise.
"""

import json
import os
import sys
import urllib.error
import urllib.request


def call(method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
    base = os.environ["GATEWAY_URL"].rstrip("/")
    headers = {"Content-Type": "application/json"}
    if os.environ.get("TEST_BEARER_TOKEN"):
        headers["Authorization"] = "Bearer " + os.environ["TEST_BEARER_TOKEN"]
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    timeout = float(os.environ.get("TEST_TIMEOUT_SECONDS", "120"))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except (urllib.error.URLError, OSError) as err:
        sys.exit(f"FAIL {method} {base}{path}: {getattr(err, 'reason', err)}")


def _shown(body: bytes) -> str:
    return body[:300].decode(errors="replace")


def main() -> None:
    status, body = call("GET", "/health")
    if status != 200:
        sys.exit(f"FAIL GET /health: HTTP {status} {_shown(body)}")
    prompt = os.environ.get("TEST_PROMPT", "Say hello.")
    params = {"max_new_tokens": int(os.environ.get("TEST_MAX_NEW_TOKENS", "8"))}
    status, body = call("POST", "/generate", {"inputs": prompt, "parameters": params})
    if status != 200:
        sys.exit(f"FAIL POST /generate: HTTP {status} {_shown(body)}")
    try:
        reply = json.loads(body)
        reply = reply[0] if isinstance(reply, list) else reply
        text = reply["generated_text"]
    except (ValueError, KeyError, IndexError, TypeError):
        sys.exit(f"FAIL POST /generate: no generated_text in {_shown(body)}")
    if not isinstance(text, str) or not text.strip():
        sys.exit("FAIL POST /generate: empty generated_text")
    print(f"ok: /health 200; /generate gave {text[:80]!r}")


main()
