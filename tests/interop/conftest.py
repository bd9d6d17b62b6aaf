"""Builds the interop lab once per session and tears it down, whatever the tests do.

The lab (tests/interop/lab.sh): a CA, dnsmasq with the names and SRV records below,
Synapse `syn.test` (pinned), and three hearth servers reached the three ways the spec
allows (server-server-api "Resolving server names"):

    direct.test   A record, hearth on :8448                        (steps 2/6: no delegation)
    deleg.test    A record, hearth's apex listener on :443 serves
                  /.well-known/matrix/server -> hdeleg.test:8448   (step 3.2: well-known)
    srv.test      no A record; _matrix-fed._tcp.srv.test -> hsrv.test:8450  (step 4: SRV)

and, as a control that Synapse really checks TLS, wrongcert.test on :8448 presenting a
lab certificate for another name. test_init.py adds init.test (a config from `hearth init`).

Runs only with HEARTH_INTEROP=1 (STYLE 8.3). Addresses are <HEARTH_LAB_NET>.x, default
127.0.5.x (dnsmasq on .53), so labs on different prefixes never collide. HEARTH_LAB_DIR
names the lab folder (default: a pytest temporary folder); logs stay in <lab>/logs.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import sys

import pytest

from harness import DNS_IP, IPS, Lab, Listener, start_hearth

SRV_PORT = 8450
SYNAPSE_SRV_PORT = 8449


def pytest_collection_modifyitems(config, items):
    if os.environ.get("HEARTH_INTEROP") == "1":
        return
    skip = pytest.mark.skip(reason="interop tests need HEARTH_INTEROP=1 (STYLE 8.3)")
    for item in items:
        item.add_marker(skip)


def pytest_configure(config):
    # A CI time-out sends SIGTERM: turn it into an interrupt so fixture teardown
    # (lab.sh stop) still runs.
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    os.environ["HEARTH_LAB_DNS_IP"] = DNS_IP
    if os.environ.get("HEARTH_LAB_DIR"):
        path = os.path.abspath(os.environ["HEARTH_LAB_DIR"])
        if os.path.isdir(path):
            Lab(path).sh("stop")  # leftovers of an interrupted run
            shutil.rmtree(path)
    else:
        path = tmp_path_factory.mktemp("lab")
    lab = Lab(pathlib.Path(path))
    lab.sh("init")
    try:
        for name, ip in IPS.items():
            lab.host(name, ip)
        lab.sh("srv", "_matrix-fed._tcp.srv.test", "hsrv.test", str(SRV_PORT))
        # synsrv.test: a Synapse found only through SRV (no A record for synsrv.test).
        lab.sh("srv", "_matrix-fed._tcp.synsrv.test", "hsynsrv.test", str(SYNAPSE_SRV_PORT))
        lab.sh("dns")
        yield lab
    finally:
        lab.sh("stop")
        print(f"\nlab logs: {lab.path}/logs", file=sys.stderr)


class Synapse:
    def __init__(self, lab: Lab, name: str, port: int, server_name: str | None = None):
        self.lab, self.name, self.port = lab, name, port
        self.server_name = server_name or name

    def request(self, method, path, body=None, headers=None):
        return self.lab.request(self.name, self.port, method, path, body, headers)

    def log_about(self, needle: str, lines: int = 40) -> str:
        """The last lines of Synapse's log that mention needle, for failure messages."""
        text = (self.lab.path / f"synapse-{self.server_name}" / "homeserver.log").read_text(errors="replace")
        hits = [ln for ln in text.splitlines() if needle in ln]
        return "\n".join(hits[-lines:]) or f"(Synapse logged nothing about {needle})"


@pytest.fixture(scope="session")
def synapse(lab):
    lab.sh("synapse", "syn.test", IPS["syn.test"], "8448", timeout=300)
    return Synapse(lab, "syn.test", 8448)


@pytest.fixture(scope="session")
def synapse_srv(lab):
    """Synapse for server name synsrv.test, delegated by _matrix-fed._tcp.synsrv.test to
    hsynsrv.test:8449; clients reach it as hsynsrv.test (its certificate names both)."""
    lab.sh("synapse", "synsrv.test", IPS["hsynsrv.test"], str(SYNAPSE_SRV_PORT), "hsynsrv.test", timeout=300)
    return Synapse(lab, "hsynsrv.test", SYNAPSE_SRV_PORT, server_name="synsrv.test")


@pytest.fixture(scope="session")
def hearth_direct(lab):
    """direct.test on :8448, no delegation; also serves both well-known documents."""
    return start_hearth(
        lab,
        "direct",
        "direct.test",
        [(Listener("direct.test", IPS["direct.test"], 8448), ["direct.test"])],
        well_known_server="direct.test:8448",
        well_known_client="https://direct.test:8448",
    )


@pytest.fixture(scope="session")
def hearth_delegated(lab):
    """deleg.test: one hearth, federation on hdeleg.test:8448 and the apex deleg.test:443
    answering /.well-known/matrix/server with hdeleg.test:8448."""
    return start_hearth(
        lab,
        "deleg",
        "deleg.test",
        [
            (Listener("hdeleg.test", IPS["hdeleg.test"], 8448), ["hdeleg.test"]),
            (Listener("deleg.test", IPS["deleg.test"], 443), ["deleg.test"]),
        ],
        well_known_server="hdeleg.test:8448",
    )


@pytest.fixture(scope="session")
def hearth_srv(lab):
    """srv.test: found only through _matrix-fed._tcp.srv.test -> hsrv.test:8450. The spec
    has the certificate name the server name (srv.test), not the SRV target."""
    return start_hearth(
        lab,
        "srv",
        "srv.test",
        [(Listener("srv.test", IPS["hsrv.test"], SRV_PORT), ["srv.test"])],
    )


@pytest.fixture(scope="session")
def hearth_wrong_cert(lab):
    """wrongcert.test on :8448 with a certificate (from the lab CA) for other.test only."""
    return start_hearth(
        lab,
        "wrongcert",
        "wrongcert.test",
        [(Listener("other.test", IPS["wrongcert.test"], 8448), ["other.test"])],
    )
