"""hearth's own server keys, checked with signedjson (an implementation independent of
hearth's): spec server-server-api "Retrieving server keys", "Publishing Keys"."""

import base64
import stat
import urllib.parse

import pytest
from signedjson.key import decode_signing_key_base64, get_verify_key
from signedjson.sign import SignatureVerifyException, verify_signed_json

from harness import expected_key, now_ms


def b64decode_unpadded(s: str) -> bytes:
    return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)


def test_signing_key_file_is_private_and_in_synapse_format(hearth_direct):
    f = hearth_direct.signing_key_file
    assert f.exists(), f"hearth did not create {f}"
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    alg, version, seed = hearth_direct.signing_key_line()
    assert alg == "ed25519"
    # Spec appendices "Signing Key": a key ID's version is [a-zA-Z0-9_].
    assert version and all(c.isascii() and (c.isalnum() or c == "_") for c in version)
    assert len(b64decode_unpadded(seed)) == 32


def fetch_key_document(hearth, path="/_matrix/key/v2/server"):
    r = hearth.get(path)
    assert r.status == 200, f"GET {path}: {r}"
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    return r.json()


def check_key_document(doc, hearth):
    key_id, public = expected_key(hearth)
    assert doc["server_name"] == hearth.server_name
    assert isinstance(doc["valid_until_ts"], int)
    assert doc["valid_until_ts"] > now_ms() + 60_000, "valid_until_ts is not in the future"
    assert doc["verify_keys"] == {key_id: {"key": public}}
    alg, version = key_id.split(":", 1)
    verify_key = get_verify_key(decode_signing_key_base64(alg, version, hearth.signing_key_line()[2]))
    verify_signed_json(doc, hearth.server_name, verify_key)
    return verify_key


def test_key_document_is_signed_by_the_key_it_publishes(hearth_direct):
    doc = fetch_key_document(hearth_direct)
    verify_key = check_key_document(doc, hearth_direct)
    # The check above can fail: any change to the signed content breaks the signature.
    doc["valid_until_ts"] += 1
    with pytest.raises(SignatureVerifyException):
        verify_signed_json(doc, hearth_direct.server_name, verify_key)


@pytest.mark.parametrize("encode", [False, True], ids=["literal-colon", "percent-encoded"])
def test_legacy_key_id_path_answers_the_same(hearth_direct, encode):
    key_id, _ = expected_key(hearth_direct)
    segment = urllib.parse.quote(key_id, safe="") if encode else key_id
    legacy = fetch_key_document(hearth_direct, f"/_matrix/key/v2/server/{segment}")
    check_key_document(legacy, hearth_direct)
    plain = fetch_key_document(hearth_direct)
    for field in ("server_name", "verify_keys", "old_verify_keys"):
        assert legacy.get(field) == plain.get(field), field


def test_every_hearth_serves_its_own_key(hearth_delegated, hearth_srv):
    for hearth in (hearth_delegated, hearth_srv):
        check_key_document(fetch_key_document(hearth), hearth)
