"""The discovery and bookkeeping endpoints of a hearth reached over TLS."""

import pytest


def test_federation_version_names_hearth(hearth_direct):
    r = hearth_direct.get("/_matrix/federation/v1/version")
    assert r.status == 200, r
    server = r.json()["server"]
    assert server["name"] == "hearth"
    assert isinstance(server.get("version"), str) and server["version"]


def test_well_known_client_has_cors(hearth_direct):
    # Spec client-server-api "Web Browser Clients": CORS headers on every response,
    # so browsers can read /.well-known/matrix/client from another origin.
    r = hearth_direct.request("GET", "/.well-known/matrix/client", headers={"Origin": "https://app.test"})
    assert r.status == 200, r
    assert r.json()["m.homeserver"]["base_url"] == "https://direct.test:8448"
    assert r.headers.get("access-control-allow-origin") == "*", r.headers
    methods = {m.strip() for m in r.headers.get("access-control-allow-methods", "").split(",")}
    assert {"GET", "OPTIONS"} <= methods, r.headers


def test_cors_preflight_is_answered(hearth_direct):
    # Spec client-server-api "Web Browser Clients": every endpoint supports OPTIONS, and
    # the server performs none of the endpoint's logic for it.
    r = hearth_direct.request(
        "OPTIONS",
        "/.well-known/matrix/client",
        headers={"Origin": "https://app.test", "Access-Control-Request-Method": "GET"},
    )
    assert 200 <= r.status < 300, r
    assert r.headers.get("access-control-allow-origin") == "*", r.headers
    allowed = {h.strip().lower() for h in r.headers.get("access-control-allow-headers", "").split(",")}
    assert {"authorization", "content-type"} <= allowed, r.headers


def test_well_known_server_on_the_apex(hearth_delegated):
    r = hearth_delegated.get("/.well-known/matrix/server", listener=1)
    assert r.status == 200, r
    assert r.json() == {"m.server": "hdeleg.test:8448"}


@pytest.mark.parametrize(
    "path",
    ["/_matrix/federation/v1/no_such_endpoint", "/_matrix/key/v2/nope", "/nothing/here"],
)
def test_unknown_path_is_404_unrecognized(hearth_direct, path):
    r = hearth_direct.get(path)
    assert r.status == 404, r
    assert r.json()["errcode"] == "M_UNRECOGNIZED", r


def test_logs_a_start_line_per_listener(hearth_delegated):
    log = hearth_delegated.log()
    for ln in hearth_delegated.listeners:
        assert f"{ln.ip}:{ln.port}" in log, f"no start-up line for {ln.ip}:{ln.port} in:\n{log}"
