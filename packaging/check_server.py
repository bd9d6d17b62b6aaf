"""Checks a running hearth as a peer would, for the packaging tests (test-deb.sh, test-arm.sh).

    check_server.py BASE_URL SERVER_NAME SIGNING_KEY_FILE

GET /_matrix/client/versions must list spec versions; GET /_matrix/key/v2/server must be a
key document for SERVER_NAME that publishes exactly the key in SIGNING_KEY_FILE (Synapse's
format) and is signed by it: checked with signedjson, an implementation independent of
hearth's (spec server-server-api "Publishing Keys"). Exits non-zero with the reason.
"""

import json
import sys
import time
import urllib.request

from signedjson.key import decode_signing_key_base64, encode_verify_key_base64, get_verify_key
from signedjson.sign import SignatureVerifyException, verify_signed_json


def get_json(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.load(response)
    except (OSError, ValueError) as e:  # URLError and HTTPError are OSErrors
        sys.exit(f"GET {url}: {e}")


def main():
    base, server_name, key_file = sys.argv[1:4]
    versions = get_json(base + "/_matrix/client/versions")
    if not any(v.startswith("v1.") for v in versions.get("versions", [])):
        sys.exit(f"/_matrix/client/versions lists no v1.x version: {versions}")

    alg, version, seed = open(key_file).read().split()
    signing_key = decode_signing_key_base64(alg, version, seed)
    verify_key = get_verify_key(signing_key)
    key_id = f"{alg}:{version}"

    doc = get_json(base + "/_matrix/key/v2/server")
    if doc.get("server_name") != server_name:
        sys.exit(f"key document for {doc.get('server_name')!r}, expected {server_name!r}")
    expected = {key_id: {"key": encode_verify_key_base64(verify_key)}}
    if doc.get("verify_keys") != expected:
        sys.exit(f"verify_keys {doc.get('verify_keys')} are not the key file's {expected}")
    if doc.get("valid_until_ts", 0) <= time.time() * 1000:
        sys.exit(f"valid_until_ts {doc.get('valid_until_ts')} is not in the future")
    try:
        verify_signed_json(doc, server_name, verify_key)
    except SignatureVerifyException as e:
        sys.exit(f"key document signature does not verify: {e}")
    print(f"ok: {base} answers versions {versions['versions'][-1]}, key {key_id} signed")


if __name__ == "__main__":
    main()
