"""X-Matrix request authentication between hearth and Synapse (spec server-server-api
"Request Authentication"; checklist §2.2), both ways:

- Synapse signs: a Synapse user asks Synapse for a hearth user's profile, Synapse sends a
  signed GET /_matrix/federation/v1/query/profile to hearth, and hearth accepts it only
  after fetching Synapse's key from Synapse itself.
- Requests signed here with Synapse's own signing key (signedjson) reach hearth directly:
  accepted as sent, refused with 401 when the destination, the URI or the key is wrong.
- hearth as a notary: asked for Synapse's keys, hearth fetches them and passes Synapse's
  document on with its own signature added (spec "Querying Keys Through Another Server").
- hearth asks a notary: hearth fetches another server's keys through Synapse's
  `POST /_matrix/key/v2/query` and checks both signatures on the answer.
- hearth signs: hearth's outbound client (examples/federation_request.rs, built by
  `cargo test` or `cargo build --example federation_request`) asks Synapse for a Synapse
  user's profile, and Synapse, having fetched hearth's key, answers 200.
"""

from __future__ import annotations

import json
import subprocess

from signedjson.key import decode_signing_key_base64, decode_verify_key_base64, encode_verify_key_base64, get_verify_key
from signedjson.sign import sign_json, verify_signed_json

from harness import expected_key, hearth_bin, now_ms

PASSWORD = "correct horse battery staple"


def add_hearth_user(hearth, localpart: str) -> None:
    """`hearth user add` on the running server's database (it allows that)."""
    proc = subprocess.run(
        [str(hearth_bin()), "user", "add", localpart, "--password", PASSWORD, "--config", str(hearth.config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 or "exists" in proc.stderr, proc.stderr


def synapse_token(synapse, localpart: str) -> str:
    """An access token of a new (or existing) Synapse user, by open registration."""
    body = {"username": localpart, "password": PASSWORD, "auth": {"type": "m.login.dummy"}}
    r = synapse.request("POST", "/_matrix/client/v3/register", body)
    if r.status == 401 and "session" in r.json():
        body["auth"]["session"] = r.json()["session"]
        r = synapse.request("POST", "/_matrix/client/v3/register", body)
    if r.status == 400 and r.json().get("errcode") == "M_USER_IN_USE":
        login = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": localpart}, "password": PASSWORD}
        r = synapse.request("POST", "/_matrix/client/v3/login", login)
    assert r.status == 200, r
    return r.json()["access_token"]


def hearth_lines(hearth, needle: str) -> str:
    return "\n".join(line for line in hearth.log().splitlines() if needle in line)[-4000:]


def test_synapse_user_reads_a_hearth_users_profile(synapse, hearth_direct):
    add_hearth_user(hearth_direct, "alice")
    auth = {"Authorization": f"Bearer {synapse_token(synapse, 'profilereader')}"}
    r = synapse.request("GET", "/_matrix/client/v3/profile/@alice:direct.test", headers=auth)
    why = (
        f"Synapse answered {r}\nhearth's log:\n{hearth_lines(hearth_direct, 'query/profile')}\n"
        f"{hearth_lines(hearth_direct, 'X-Matrix')}\nSynapse's log:\n{synapse.log_about('direct.test')}"
    )
    assert r.status == 200, why
    assert r.json().get("displayname") == "alice", why
    # hearth answered Synapse's signed request itself (and fetched Synapse's key for it).
    assert " GET /_matrix/federation/v1/query/profile 200 " in hearth_direct.log(), why
    # An unknown user: hearth's 404 reaches the client through Synapse.
    r = synapse.request("GET", "/_matrix/client/v3/profile/@nobody:direct.test", headers=auth)
    assert r.status == 404, r


def synapse_signing_key(lab):
    algorithm, version, seed = (lab.path / "synapse-syn.test" / "signing.key").read_text().split()
    return decode_signing_key_base64(algorithm, version, seed)


def x_matrix(key, uri: str, destination: str, key_id: str | None = None) -> str:
    """The Authorization header for a GET from syn.test, signed with Synapse's own key."""
    signed = sign_json(
        {"method": "GET", "uri": uri, "origin": "syn.test", "destination": destination},
        "syn.test",
        key,
    )
    real_key_id = f"ed25519:{key.version}"
    sig = signed["signatures"]["syn.test"][real_key_id]
    return f'X-Matrix origin="syn.test",destination="{destination}",key="{key_id or real_key_id}",sig="{sig}"'


def test_hearth_checks_signatures_made_with_synapses_key(lab, synapse, hearth_direct):
    add_hearth_user(hearth_direct, "alice")
    key = synapse_signing_key(lab)
    uri = "/_matrix/federation/v1/query/profile?user_id=%40alice%3Adirect.test"

    def get(authorization: str | None, path: str = uri):
        headers = {"Authorization": authorization} if authorization else {}
        return hearth_direct.request("GET", path, headers=headers)

    r = get(x_matrix(key, uri, "direct.test"))
    assert r.status == 200, f"{r}\n{hearth_lines(hearth_direct, 'X-Matrix')}"
    assert r.json() == {"displayname": "alice"}
    refusals = {
        "no header": get(None),
        "addressed to another server": get(x_matrix(key, uri, "deleg.test")),
        "signed for another URI": get(x_matrix(key, uri + "&field=displayname", "direct.test")),
        "query changed after signing": get(x_matrix(key, uri, "direct.test"), uri + "&field=displayname"),
        "a key Synapse does not have": get(x_matrix(key, uri, "direct.test", key_id="ed25519:nope")),
    }
    for case, r in refusals.items():
        assert r.status == 401, f"{case}: {r}"
        assert r.json()["errcode"] == "M_UNAUTHORIZED", f"{case}: {r}"


def example_binary():
    example = hearth_bin().parent / "examples" / "federation_request"
    assert example.exists(), f"no {example}: run `cargo build --example federation_request`"
    return example


def test_synapse_accepts_hearths_signature(lab, synapse, hearth_direct):
    synapse_token(synapse, "signedfor")  # the user whose profile hearth asks for
    example = example_binary()
    uri = "/_matrix/federation/v1/query/profile?user_id=%40signedfor%3Asyn.test"
    # Inside the lab, so that syn.test resolves as it does for the servers.
    out = lab.sh("exec", "--", str(example), str(hearth_direct.config), "syn.test", "GET", uri, timeout=120)
    status, _, body = out.partition("\n")
    why = f"{out}\nSynapse's log:\n{synapse.log_about('direct.test')}"
    assert status == "200", why
    assert json.loads(body).get("displayname") == "signedfor", why


def test_hearth_as_notary_passes_on_synapses_keys(lab, synapse, hearth_direct):
    synapse_key = get_verify_key(synapse_signing_key(lab))
    key_id = f"ed25519:{synapse_key.version}"
    query = {"server_keys": {"syn.test": {key_id: {"minimum_valid_until_ts": now_ms()}}}}
    r = hearth_direct.request("POST", "/_matrix/key/v2/query", query)
    why = f"{r}\nhearth's log:\n{hearth_lines(hearth_direct, 'key')}"
    assert r.status == 200, why
    (document,) = [d for d in r.json()["server_keys"] if d.get("server_name") == "syn.test"]
    assert document["verify_keys"][key_id] == {"key": encode_verify_key_base64(synapse_key)}, why
    verify_signed_json(document, "syn.test", synapse_key)
    hearth_key_id, hearth_public = expected_key(hearth_direct)
    version = hearth_key_id.split(":", 1)[1]
    verify_signed_json(document, "direct.test", decode_verify_key_base64("ed25519", version, hearth_public))
    # The GET form answers the same document.
    r = hearth_direct.request("GET", "/_matrix/key/v2/query/syn.test")
    assert r.status == 200 and r.json()["server_keys"][0]["verify_keys"] == document["verify_keys"], r


def test_hearth_fetches_keys_through_synapse_as_notary(lab, synapse, hearth_direct, hearth_delegated):
    key_id, public = expected_key(hearth_delegated)
    out = lab.sh(
        "exec", "--", str(example_binary()), str(hearth_direct.config),
        "--keys-via", "syn.test", "deleg.test", key_id, timeout=120,
    )
    status, _, body = out.partition("\n")
    why = f"{out}\nSynapse's log:\n{synapse.log_about('deleg.test')}"
    assert status == "200", why
    assert {"key_id": key_id, "key": public} in json.loads(body), why
