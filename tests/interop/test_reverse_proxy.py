"""hearth behind nginx and behind Caddy, each configured exactly as docs/deployment.md
shows (proxy_lab.py takes the guide's tested blocks): the proxy terminates TLS for
matrix.<name> on 443 and 8448 and serves the apex <name>, whose /.well-known/matrix/server
(answered by hearth through the proxy) delegates to matrix.<name>:443. hearth has one
plain-HTTP listener with x_forwarded = true, from the guide's hearth.toml.

Proven with a real Synapse, for each proxy: it finds hearth through the delegation,
fetches its keys and joins a hearth room through the proxy, and messages flow both ways;
signed requests whose paths hold `!`, `$`, `@`, `:` and `%2F` pass unchanged (the same
requests through nginx with the `proxy_pass .../_matrix/;` trap the guide warns about are
refused, so the test would see a normalising proxy); hearth logs and rate-limits the client
address the proxy saw; a body over nginx's default 1 MiB limit reaches hearth.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import urllib.parse
from dataclasses import dataclass

import pytest

from harness import NET, Hearth, Lab, Listener, serve, toml_str
from proxy_lab import caddy_for_lab, guide_block, lab_names, nginx_for_lab, start_caddy, start_nginx
from test_check import run_check
from test_federation_auth import hearth_lines, synapse_signing_key, synapse_token, x_matrix
from test_federation_rooms import auth, bodies, hearth_token, wait_for


@dataclass
class Site:
    proxy: str  # "nginx" or "caddy"
    apex: str  # the server name
    first_ip: int  # .first_ip hearth, +1 the apex, +2 matrix.<apex>, +3 nginx's trap, +4/+5 clients
    hearth: Hearth | None = None

    def ip(self, offset: int) -> str:
        return f"{NET}.{self.first_ip + offset}"

    @property
    def host(self) -> str:
        return f"matrix.{self.apex}"

    @property
    def upstream(self) -> str:
        return f"{self.ip(0)}:8008"


SITES = {"nginx": Site("nginx", "proxied.test", 40), "caddy": Site("caddy", "caddied.test", 50)}


def quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def start_hearth_from_guide(lab: Lab, site: Site) -> Hearth:
    home = lab.path / f"hearth-{site.proxy}"
    data_dir = home / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    config = lab_names(guide_block("hearth.toml behind a proxy"), site.apex, site.host, site.upstream)
    config = config.replace('"/var/lib/hearth"', toml_str(data_dir))
    config += f"\n[federation]\nextra_ca = [{toml_str(lab.ca)}]\n"
    (home / "hearth.toml").write_text(config)
    return serve(lab, site.proxy, site.apex, home / "hearth.toml", data_dir, [Listener(site.host, site.ip(2), 443)])


@pytest.fixture(scope="module", params=list(SITES))
def site(request, lab):
    """hearth from the guide's hearth.toml behind the guide's nginx.conf or Caddyfile."""
    site = SITES[request.param]
    if site.hearth:
        return site
    lab.host(site.apex, site.ip(1))
    lab.host(site.host, site.ip(2))
    site.hearth = start_hearth_from_guide(lab, site)
    ips = {site.host: site.ip(2), site.apex: site.ip(1)}
    addrs = [(site.ip(2), 443), (site.ip(2), 8448), (site.ip(1), 443)]
    if site.proxy == "caddy":
        caddyfile = lab_names(guide_block("Caddyfile"), site.apex, site.host, site.upstream)
        start_caddy(lab, "guide", caddy_for_lab(caddyfile, lab, ips), addrs)
        return site
    nginx = lab_names(guide_block("nginx.conf"), site.apex, site.host, site.upstream)
    start_nginx(lab, "guide", nginx_for_lab(nginx, lab, ips), addrs)
    # The trap the guide warns about: a URI in proxy_pass makes nginx pass its decoded,
    # normalised path instead of the one the client sent (and signed).
    trap = nginx.replace(f"proxy_pass http://{site.upstream};", f"proxy_pass http://{site.upstream}/_matrix/;", 1)
    assert trap != nginx
    start_nginx(lab, "trap", nginx_for_lab(trap, lab, {site.host: site.ip(3), site.apex: f"{NET}.{site.first_ip + 9}"}), [(site.ip(3), 443)])
    return site


ROOMS: dict[str, tuple[str, str, str]] = {}


def joined_room(synapse, site: Site) -> tuple[str, str, str]:
    """A hearth room that a Synapse user joined through the proxy: (room_id, alice, bob)."""
    if site.proxy in ROOMS:
        return ROOMS[site.proxy]
    hearth = site.hearth
    alice = hearth_token(hearth, "alice")
    r = hearth.request("POST", "/_matrix/client/v3/createRoom", {"preset": "public_chat", "room_alias_name": "porch", "name": "Porch"}, headers=auth(alice))
    assert r.status == 200, r
    room_id = r.json()["room_id"]
    bob = synapse_token(synapse, "proxybob")
    r = synapse.request("POST", f"/_matrix/client/v3/join/{quote('#porch:' + site.apex)}", {}, headers=auth(bob))
    assert r.status == 200, f"{r}\nSynapse: {synapse.log_about(site.apex)}\nhearth: {hearth_lines(hearth, 'federation')}"
    assert r.json()["room_id"] == room_id
    ROOMS[site.proxy] = (room_id, alice, bob)
    return ROOMS[site.proxy]


def test_hearth_check_passes_through_the_delegation_and_the_proxy(lab, site):
    status, report, stderr = run_check(lab, site.apex)
    assert status == 0, (report["problems"], stderr)
    assert report["well_known"]["m_server"] == f"{site.host}:443"
    connection = report["connections"][0]
    assert connection["addr"] == f"{site.ip(2)}:443"
    assert connection["tls_server_name"] == site.host
    assert connection["version"]["name"] == "hearth"
    # Federation without delegation would use port 8448: the proxy serves it too.
    r = lab.request(site.host, 8448, "GET", "/_matrix/key/v2/server", ip=site.ip(2))
    assert r.status == 200 and r.json()["server_name"] == site.apex, r


def test_synapse_joins_and_talks_through_the_proxy(synapse, site):
    room_id, alice, bob = joined_room(synapse, site)
    hearth = site.hearth
    r = synapse.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/p1", {"msgtype": "m.text", "body": "hello through the proxy"}, headers=auth(bob))
    assert r.status == 200, r
    wait_for("bob's message on hearth", lambda: "hello through the proxy" in bodies(hearth, alice, room_id), logs=lambda: hearth_lines(hearth, "send"))
    r = hearth.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/a1", {"msgtype": "m.text", "body": "hello from behind the proxy"}, headers=auth(alice))
    assert r.status == 200, r
    wait_for("alice's message on Synapse", lambda: "hello from behind the proxy" in bodies(synapse, bob, room_id), logs=lambda: synapse.log_about(site.apex))
    # Synapse's requests came through the proxy: hearth logged them with a forwarded address.
    log = hearth.log().splitlines()
    joins = [line for line in log if "/_matrix/federation/v1/make_join/" in line]
    assert joins and all(" via " in line and line.split()[-2] == "200" for line in joins), joins
    assert [line for line in log if " GET /_matrix/key/v2/server" in line and " via " in line], hearth_lines(hearth, "key")


def signed_get(lab, site: Site, ip: str, uri: str):
    authorization = x_matrix(synapse_signing_key(lab), uri, site.apex)
    return lab.request(site.host, 443, "GET", uri, headers={"Authorization": authorization}, ip=ip)


def test_signed_paths_pass_the_proxy_unchanged(lab, synapse, site):
    room_id, alice, _ = joined_room(synapse, site)
    r = site.hearth.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/a2", {"msgtype": "m.text", "body": "fetch me"}, headers=auth(alice))
    assert r.status == 200, r
    event_id = r.json()["event_id"]
    event_uri = f"/_matrix/federation/v1/event/{quote(event_id)}"
    state_uri = f"/_matrix/federation/v1/state_ids/{quote(room_id)}?event_id={quote(event_id)}"
    join_uri = f"/_matrix/federation/v1/make_join/{quote(room_id)}/{quote('@proxybob:syn.test')}?ver=10&ver=11&ver=12"
    # A %2F inside a segment: the handler must see one event ID, "$no/such:<apex>".
    escaped_uri = f"/_matrix/federation/v1/event/%24no%2Fsuch%3A{site.apex}"
    assert "%24" in event_uri and "%21" in state_uri and "%40" in join_uri and "%3A" in join_uri

    r = signed_get(lab, site, site.ip(2), event_uri)
    assert r.status == 200, f"{r}\n{hearth_lines(site.hearth, 'X-Matrix')}"
    assert r.json()["pdus"][0]["content"]["body"] == "fetch me"
    r = signed_get(lab, site, site.ip(2), state_uri)
    assert r.status == 200 and r.json()["pdu_ids"], r
    r = signed_get(lab, site, site.ip(2), join_uri)
    assert r.status == 200 and r.json()["event"]["state_key"] == "@proxybob:syn.test", r
    r = signed_get(lab, site, site.ip(2), escaped_uri)
    assert (r.status, r.json()["errcode"], r.json()["error"]) == (404, "M_NOT_FOUND", "unknown event"), r

    if site.proxy != "nginx":
        return
    # The same requests through the trap: nginx decodes the path, the signature no longer
    # matches (or the %2F splits the segment).
    for uri in (event_uri, state_uri, join_uri):
        r = signed_get(lab, site, site.ip(3), uri)
        assert (r.status, r.json()["errcode"]) == (401, "M_UNAUTHORIZED"), (uri, r)
    r = signed_get(lab, site, site.ip(3), escaped_uri)
    assert r.status in (401, 404) and r.json()["errcode"] != "M_NOT_FOUND", r


def request_from(lab, site: Site, source_ip: str, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> int:
    """The status of one HTTPS request to the proxy's matrix.<apex>:443, sent from source_ip."""
    ctx = ssl.create_default_context(cafile=str(lab.ca))
    conn = http.client.HTTPSConnection(site.host, 443, context=ctx, timeout=60)
    conn._create_connection = lambda addr, *a, **kw: socket.create_connection((site.ip(2), 443), timeout=60, source_address=(source_ip, 0))
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def test_hearth_sees_the_client_address_the_proxy_saw(lab, site):
    client, other = site.ip(4), site.ip(5)
    # The client's own X-Forwarded-For entry is not taken for its address.
    status = request_from(lab, site, client, "GET", "/_matrix/client/versions", {"X-Forwarded-For": "192.0.2.66"})
    assert status == 200
    wait_for(
        "the request's log line",
        lambda: [ln for ln in site.hearth.log().splitlines() if " GET /_matrix/client/versions " in ln and ln.split()[2:4] == [client, "via"]],
        logs=site.hearth.log,
    )
    assert "192.0.2.66" not in site.hearth.log()
    # Login attempts are limited per client address: another address still gets in.
    body = b'{"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "nobody"}, "password": "x"}'
    json_type = {"Content-Type": "application/json"}
    statuses = [request_from(lab, site, client, "POST", "/_matrix/client/v3/login", json_type, body) for _ in range(40)]
    assert 429 in statuses, statuses
    assert request_from(lab, site, other, "POST", "/_matrix/client/v3/login", json_type, body) == 403


def test_the_proxy_passes_large_bodies_to_hearth(lab, site):
    # Over nginx's default 1 MiB, under hearth's 8 MiB for transactions: hearth itself
    # answers (401: unsigned), not the proxy with its own 413 page.
    body = {"pdus": [], "padding": "x" * (2 << 20)}
    r = lab.request(site.host, 443, "PUT", "/_matrix/federation/v1/send/big", body, ip=site.ip(2))
    assert r.status == 401 and r.json()["errcode"] == "M_UNAUTHORIZED", r
