"""Synapse, as a notary, fetches hearth's keys: to answer it must resolve hearth's name
(direct, well-known delegation, SRV), connect with TLS trusting only the lab CA, and
verify hearth's signature on the key document. Spec server-server-api "Querying Keys
Through Another Server" and "Resolving server names".

Synapse only goes to the remote server when the query names a key ID it has not cached
(synapse/rest/key/v2/remote_key_resource.py `query_keys`: a query with no key IDs is
answered from its cache alone), so the query names hearth's key ID.
"""

import pytest
from signedjson.key import decode_verify_key_base64
from signedjson.sign import verify_signed_json

from harness import expected_key, now_ms


def synapse_verify_key(synapse):
    r = synapse.request("GET", "/_matrix/key/v2/server")
    assert r.status == 200, r
    doc = r.json()
    (key_id, key), = doc["verify_keys"].items()
    alg, version = key_id.split(":", 1)
    return decode_verify_key_base64(alg, version, key["key"])


@pytest.mark.parametrize("which", ["hearth_direct", "hearth_delegated", "hearth_srv"])
def test_synapse_notary_returns_hearths_key(request, synapse, which):
    hearth = request.getfixturevalue(which)
    key_id, public = expected_key(hearth)
    query = {"server_keys": {hearth.server_name: {key_id: {"minimum_valid_until_ts": now_ms()}}}}
    r = synapse.request("POST", "/_matrix/key/v2/query", body=query)
    why = f"Synapse answered {r}\nSynapse's log about {hearth.server_name}:\n{synapse.log_about(hearth.server_name)}"
    assert r.status == 200, why
    docs = [d for d in r.json()["server_keys"] if d.get("server_name") == hearth.server_name]
    assert len(docs) == 1, why
    doc = docs[0]
    assert doc["verify_keys"].get(key_id) == {"key": public}, why
    assert doc["valid_until_ts"] > now_ms()
    # The notary passes hearth's own signature on and adds its own (the spec's notary
    # response); both must verify over the same document.
    alg, version = key_id.split(":", 1)
    verify_signed_json(doc, hearth.server_name, decode_verify_key_base64(alg, version, public))
    verify_signed_json(doc, synapse.name, synapse_verify_key(synapse))


def test_synapse_refuses_a_certificate_for_another_name(synapse, hearth_wrong_cert):
    """Control: the lab's TLS check is real, so the tests above prove hearth's certificate
    handling (SNI, chain) and not just reachability."""
    hearth = hearth_wrong_cert
    key_id, _ = expected_key(hearth)
    query = {"server_keys": {hearth.server_name: {key_id: {"minimum_valid_until_ts": now_ms()}}}}
    r = synapse.request("POST", "/_matrix/key/v2/query", body=query)
    keys = r.json().get("server_keys", []) if r.status == 200 else []
    assert not any(d.get("server_name") == hearth.server_name for d in keys), r
    # Synapse (service_identity) names the failed check: the name is not in the certificate.
    log = synapse.log_about(hearth.server_name)
    assert "DNSMismatch" in log, log
