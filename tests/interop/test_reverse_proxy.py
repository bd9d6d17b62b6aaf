"""hearth behind nginx, configured exactly as docs/deployment.md shows (nginx_lab.py
takes the guide's tested blocks): nginx terminates TLS for matrix.proxied.test on 443 and
8448 and serves the apex proxied.test, whose /.well-known/matrix/server (answered by
hearth through nginx) delegates to matrix.proxied.test:443. hearth has one plain-HTTP
listener with x_forwarded = true.

Proven with a real Synapse: it finds hearth through the delegation, fetches its keys and
joins a hearth room through nginx, and messages flow both ways; signed requests whose
paths hold `!`, `$`, `:` and `%2F` pass nginx unchanged (the same requests through the
guide's nginx with the `proxy_pass .../_matrix/;` trap are refused, so the test would see
a normalising proxy); hearth logs and rate-limits the client address nginx saw.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import urllib.parse

import pytest

from harness import NET, Listener, serve, toml_str
from nginx_lab import guide_block, lab_names, nginx_for_lab, start_nginx
from test_check import run_check
from test_federation_auth import hearth_lines, synapse_signing_key, synapse_token, x_matrix
from test_federation_rooms import auth, bodies, hearth_token, wait_for

APEX, HOST = "proxied.test", "matrix.proxied.test"
HEARTH_IP, APEX_IP, HOST_IP, TRAP_IP, CLIENT_IP = (f"{NET}.{n}" for n in (40, 41, 42, 43, 44))
UPSTREAM = f"{HEARTH_IP}:8008"


def quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


@pytest.fixture(scope="module")
def proxied(lab):
    """hearth from the guide's hearth.toml, behind nginx from the guide's nginx.conf."""
    lab.host(APEX, APEX_IP)
    lab.host(HOST, HOST_IP)
    home = lab.path / "hearth-proxied"
    data_dir = home / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    config = lab_names(guide_block("hearth.toml behind nginx"), APEX, HOST, UPSTREAM)
    config = config.replace('"/var/lib/hearth"', toml_str(data_dir))
    config += f"\n[federation]\nextra_ca = [{toml_str(lab.ca)}]\n"
    (home / "hearth.toml").write_text(config)
    hearth = serve(lab, "proxied", APEX, home / "hearth.toml", data_dir, [Listener(HOST, HOST_IP, 443)])
    nginx = lab_names(guide_block("nginx.conf"), APEX, HOST, UPSTREAM)
    start_nginx(
        lab,
        "guide",
        nginx_for_lab(nginx, lab, {HOST: HOST_IP, APEX: APEX_IP}),
        [(HOST_IP, 443), (HOST_IP, 8448), (APEX_IP, 443)],
    )
    # The trap the guide warns about: a URI in proxy_pass makes nginx pass its decoded,
    # normalised path instead of the one the client sent (and signed).
    trap = nginx.replace(f"proxy_pass http://{UPSTREAM};", f"proxy_pass http://{UPSTREAM}/_matrix/;", 1)
    assert trap != nginx
    start_nginx(lab, "trap", nginx_for_lab(trap, lab, {HOST: TRAP_IP, APEX: f"{NET}.45"}), [(TRAP_IP, 443)])
    return hearth


@pytest.fixture(scope="module")
def joined_room(synapse, proxied):
    """A hearth room that a Synapse user joined through nginx: (room_id, alice, bob)."""
    alice = hearth_token(proxied, "alice")
    r = proxied.request("POST", "/_matrix/client/v3/createRoom", {"preset": "public_chat", "room_alias_name": "porch", "name": "Porch"}, headers=auth(alice))
    assert r.status == 200, r
    room_id = r.json()["room_id"]
    bob = synapse_token(synapse, "proxybob")
    r = synapse.request("POST", f"/_matrix/client/v3/join/{quote('#porch:' + APEX)}", {}, headers=auth(bob))
    assert r.status == 200, f"{r}\nSynapse: {synapse.log_about(APEX)}\nhearth: {hearth_lines(proxied, 'federation')}"
    assert r.json()["room_id"] == room_id
    return room_id, alice, bob


def test_hearth_check_passes_through_the_delegation_and_nginx(lab, proxied):
    status, report, stderr = run_check(lab, APEX)
    assert status == 0, (report["problems"], stderr)
    assert report["well_known"]["m_server"] == f"{HOST}:443"
    connection = report["connections"][0]
    assert connection["addr"] == f"{HOST_IP}:443"
    assert connection["tls_server_name"] == HOST
    assert connection["version"]["name"] == "hearth"
    # Federation without delegation would use port 8448: nginx serves it too.
    r = proxied.lab.request(HOST, 8448, "GET", "/_matrix/key/v2/server", ip=HOST_IP)
    assert r.status == 200 and r.json()["server_name"] == APEX, r


def test_synapse_joins_and_talks_through_nginx(synapse, proxied, joined_room):
    room_id, alice, bob = joined_room
    r = synapse.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/p1", {"msgtype": "m.text", "body": "hello through nginx"}, headers=auth(bob))
    assert r.status == 200, r
    wait_for("bob's message on hearth", lambda: "hello through nginx" in bodies(proxied, alice, room_id), logs=lambda: hearth_lines(proxied, "send"))
    r = proxied.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/a1", {"msgtype": "m.text", "body": "hello from behind nginx"}, headers=auth(alice))
    assert r.status == 200, r
    wait_for("alice's message on Synapse", lambda: "hello from behind nginx" in bodies(synapse, bob, room_id), logs=lambda: synapse.log_about(APEX))
    # Synapse's requests came through nginx: hearth logged them with a forwarded address.
    log = proxied.log()
    joins = [line for line in log.splitlines() if "/_matrix/federation/v1/make_join/" in line]
    assert joins and all(" via " in line and line.split()[-2] == "200" for line in joins), joins
    keys = [line for line in log.splitlines() if " GET /_matrix/key/v2/server" in line and " via " in line]
    assert keys, hearth_lines(proxied, "key")


def signed_get(lab, key, ip: str, uri: str):
    return lab.request(HOST, 443, "GET", uri, headers={"Authorization": x_matrix(key, uri, APEX)}, ip=ip)


def test_signed_paths_pass_nginx_unchanged(lab, synapse, proxied, joined_room):
    room_id, alice, _ = joined_room
    r = proxied.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/a2", {"msgtype": "m.text", "body": "fetch me"}, headers=auth(alice))
    assert r.status == 200, r
    event_id = r.json()["event_id"]
    key = synapse_signing_key(lab)
    event_uri = f"/_matrix/federation/v1/event/{quote(event_id)}"
    state_uri = f"/_matrix/federation/v1/state_ids/{quote(room_id)}?event_id={quote(event_id)}"
    join_uri = f"/_matrix/federation/v1/make_join/{quote(room_id)}/{quote('@proxybob:syn.test')}?ver=10&ver=11&ver=12"
    # A %2F inside a segment: the handler must see one event ID, "$no/such:proxied.test".
    escaped_uri = "/_matrix/federation/v1/event/%24no%2Fsuch%3Aproxied.test"
    assert "%24" in event_uri and "%21" in state_uri and "%40" in join_uri and "%3A" in join_uri

    r = signed_get(lab, key, HOST_IP, event_uri)
    assert r.status == 200, f"{r}\n{hearth_lines(proxied, 'X-Matrix')}"
    assert r.json()["pdus"][0]["content"]["body"] == "fetch me"
    r = signed_get(lab, key, HOST_IP, state_uri)
    assert r.status == 200, r
    assert r.json()["pdu_ids"], r
    r = signed_get(lab, key, HOST_IP, join_uri)
    assert r.status == 200, r
    assert r.json()["event"]["state_key"] == "@proxybob:syn.test", r
    r = signed_get(lab, key, HOST_IP, escaped_uri)
    assert (r.status, r.json()["errcode"]) == (404, "M_NOT_FOUND"), r
    assert r.json()["error"] == "unknown event", r

    # The same requests through the trap: nginx decodes the path, the signature no longer
    # matches (or the %2F splits the segment).
    r = signed_get(lab, key, TRAP_IP, event_uri)
    assert (r.status, r.json()["errcode"]) == (401, "M_UNAUTHORIZED"), r
    for uri in (state_uri, join_uri):
        r = signed_get(lab, key, TRAP_IP, uri)
        assert (r.status, r.json()["errcode"]) == (401, "M_UNAUTHORIZED"), (uri, r)
    r = signed_get(lab, key, TRAP_IP, escaped_uri)
    assert r.status in (401, 404) and r.json()["errcode"] != "M_NOT_FOUND", r


def request_from(source_ip: str, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
    """One HTTPS request to nginx's matrix.proxied.test:443 from source_ip."""
    ctx = ssl.create_default_context(cafile=str(PROXIED_CA[0]))
    conn = http.client.HTTPSConnection(HOST, 443, context=ctx, timeout=60)
    conn._create_connection = lambda addr, *a, **kw: socket.create_connection((HOST_IP, 443), timeout=60, source_address=(source_ip, 0))
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


PROXIED_CA: list = []


def test_hearth_sees_the_client_address_nginx_saw(lab, proxied):
    PROXIED_CA[:] = [lab.ca]
    # The client's own X-Forwarded-For is kept by nginx, but hearth reads nginx's entry.
    status, _ = request_from(CLIENT_IP, "GET", "/_matrix/client/versions", {"X-Forwarded-For": "192.0.2.66"})
    assert status == 200
    lines = wait_for(
        "the request's log line",
        lambda: [ln for ln in proxied.log().splitlines() if " GET /_matrix/client/versions " in ln and ln.split()[2:4] == [CLIENT_IP, "via"]],
    )
    assert "192.0.2.66" not in proxied.log(), lines
    # Login attempts are limited per client address: another address still gets in.
    body = b'{"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "nobody"}, "password": "x"}'
    statuses = [request_from(CLIENT_IP, "POST", "/_matrix/client/v3/login", {"Content-Type": "application/json"}, body)[0] for _ in range(40)]
    assert 429 in statuses, statuses
    status, _ = request_from(f"{NET}.46", "POST", "/_matrix/client/v3/login", {"Content-Type": "application/json"}, body)
    assert status == 403


def test_nginx_passes_large_bodies_to_hearth(lab, proxied):
    # Over nginx's default 1 MiB, under hearth's 8 MiB for transactions: hearth itself
    # answers (401: unsigned), not nginx with its own 413 page.
    r = proxied.lab.request(HOST, 443, "PUT", "/_matrix/federation/v1/send/big", {"pdus": [], "padding": "x" * (2 << 20)}, ip=HOST_IP)
    assert r.status == 401 and r.json()["errcode"] == "M_UNAUTHORIZED", r
