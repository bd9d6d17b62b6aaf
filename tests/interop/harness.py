"""The interop lab seen from Python: lab.sh wrapped, hearth instances, an HTTPS client.

The tests talk to lab hosts by name over TLS checked against the lab CA: the client
connects to the address the lab gave the name, and uses the name for SNI, certificate
checking and the Host header, so nothing depends on the machine's own resolver. The
servers themselves (Synapse, hearth) run inside the lab's mount namespace and resolve
names through the lab's hosts file and dnsmasq, SRV records included.
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field

from signedjson.key import decode_signing_key_base64, encode_verify_key_base64, get_verify_key

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
LAB_SH = HERE / "lab.sh"
SYNAPSE_VERSION = "1.163.2"

# The lab's address plan (conftest.py says who is where).
NET = os.environ.get("HEARTH_LAB_NET", "127.0.5")
DNS_IP = f"{NET}.53"
IPS = {
    "syn.test": f"{NET}.2",
    "direct.test": f"{NET}.10",
    "deleg.test": f"{NET}.11",
    "hdeleg.test": f"{NET}.12",
    "hsrv.test": f"{NET}.13",
    "wrongcert.test": f"{NET}.14",
    "init.test": f"{NET}.15",
    "hsynsrv.test": f"{NET}.16",
}


def hearth_bin() -> pathlib.Path:
    """The debug binary `cargo build` made (HEARTH_BIN overrides)."""
    if os.environ.get("HEARTH_BIN"):
        return pathlib.Path(os.environ["HEARTH_BIN"])
    target = os.environ.get("CARGO_TARGET_DIR") or str(REPO / "target")
    return pathlib.Path(target) / "debug" / "hearth"


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes

    def json(self):
        return json.loads(self.body)

    def __str__(self) -> str:
        return f"{self.status} {self.headers} {self.body[:500]!r}"


@dataclass
class Lab:
    """A lab folder made by `lab.sh init`, and the names it has handed out."""

    path: pathlib.Path
    hosts: dict[str, str] = field(default_factory=dict)

    def sh(self, *args: str, timeout: float = 180) -> str:
        """Runs `lab.sh CMD LAB ARGS...`; raises with lab.sh's own message on failure."""
        cmd, *rest = args
        proc = subprocess.run(
            [str(LAB_SH), cmd, str(self.path), *rest],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "HEARTH_BIN": str(hearth_bin())},
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"lab.sh {cmd} {' '.join(rest)} failed ({proc.returncode}):\n"
                f"{proc.stdout}{proc.stderr}"
            )
        return proc.stdout

    def host(self, name: str, ip: str) -> None:
        self.sh("host", name, ip)
        self.hosts[name] = ip

    @property
    def ca(self) -> pathlib.Path:
        return self.path / "certs" / "ca.crt"

    def cert(self, *names: str) -> tuple[pathlib.Path, pathlib.Path]:
        """A leaf certificate for names (the first names the files): (chain, key)."""
        self.sh("cert", *names)
        base = self.path / "certs" / names[0]
        return base.parent / f"{base.name}.crt", base.parent / f"{base.name}.key"

    def request(
        self,
        name: str,
        port: int,
        method: str,
        path: str,
        body: object | None = None,
        headers: dict[str, str] | None = None,
        ip: str | None = None,
    ) -> Response:
        """One HTTPS request to name:port (at ip, else the lab's address for name),
        certificate checked against the lab CA for name."""
        ip = ip or self.hosts[name]
        ctx = ssl.create_default_context(cafile=str(self.ca))
        conn = http.client.HTTPSConnection(name, port, context=ctx, timeout=60)
        # Connect to the lab address while TLS and Host still use the name.
        conn._create_connection = lambda addr, *a, **kw: socket.create_connection(
            (ip, addr[1]), *a, **kw
        )
        data = None if body is None else json.dumps(body).encode()
        hdrs = dict(headers or {})
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            merged: dict[str, str] = {}
            for k, v in resp.getheaders():
                k = k.lower()
                merged[k] = f"{merged[k]}, {v}" if k in merged else v
            return Response(resp.status, merged, resp.read())
        finally:
            conn.close()

    def log(self, name: str) -> str:
        p = self.path / "logs" / name
        return p.read_text(errors="replace") if p.exists() else f"(no {p})"


@dataclass
class Listener:
    name: str  # the name clients use for it (SNI, certificate, Host)
    ip: str
    port: int


@dataclass
class Hearth:
    """A running `hearth serve` in the lab."""

    lab: Lab
    server_name: str
    listeners: list[Listener]
    config: pathlib.Path
    data_dir: pathlib.Path
    id: str

    @property
    def signing_key_file(self) -> pathlib.Path:
        return self.data_dir / "signing.key"

    def signing_key_line(self) -> tuple[str, str, str]:
        """(algorithm, version, seed) from `<data_dir>/signing.key` (Synapse's format)."""
        parts = self.signing_key_file.read_text().split()
        assert len(parts) == 3, f"signing.key is not 'ed25519 <version> <seed>': {parts!r}"
        return parts[0], parts[1], parts[2]

    def request(self, method: str, path: str, body=None, headers=None, listener: int = 0) -> Response:
        ln = self.listeners[listener]
        return self.lab.request(ln.name, ln.port, method, path, body, headers, ip=ln.ip)

    def get(self, path: str, listener: int = 0) -> Response:
        return self.request("GET", path, listener=listener)

    def log(self) -> str:
        return self.lab.log(f"hearth-{self.id}.log")


def toml_str(s: str | os.PathLike) -> str:
    return json.dumps(str(s))  # a JSON string is a valid TOML basic string


def start_hearth(
    lab: Lab,
    id: str,
    server_name: str,
    listeners: list[tuple[Listener, list[str]]],
    well_known_server: str | None = None,
    well_known_client: str | None = None,
) -> Hearth:
    """Writes a config in the contract's keys and starts `hearth serve` on it.

    Each listener comes with the names its certificate covers (the first names it)."""
    home = lab.path / f"hearth-{id}"
    data_dir = home / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"server_name = {toml_str(server_name)}", f"data_dir = {toml_str(data_dir)}", ""]
    for ln, names in listeners:
        crt, key = lab.cert(*names)
        lines += [
            "[[listen]]",
            f'addr = "{ln.ip}:{ln.port}"',
            f"tls_cert = {toml_str(crt)}",
            f"tls_key = {toml_str(key)}",
            "",
        ]
    lines += ["[federation]", f"extra_ca = [{toml_str(lab.ca)}]", ""]
    wk = []
    if well_known_server:
        wk.append(f"server = {toml_str(well_known_server)}")
    if well_known_client:
        wk.append(f"client = {toml_str(well_known_client)}")
    if wk:
        lines += ["[well_known]", *wk, ""]
    config = home / "hearth.toml"
    config.write_text("\n".join(lines))
    return serve(lab, id, server_name, config, data_dir, [ln for ln, _ in listeners])


def serve(lab: Lab, id: str, server_name: str, config, data_dir, listeners: list[Listener]) -> Hearth:
    """Starts `hearth serve --config config` in the lab; returns once every listener accepts."""
    if not hearth_bin().exists():
        raise RuntimeError(f"no hearth binary at {hearth_bin()}: run `cargo build` first")
    lab.sh("hearth", id, str(config), timeout=60)
    return Hearth(lab, server_name, listeners, pathlib.Path(config), pathlib.Path(data_dir), id)


def expected_key(hearth):
    """(key_id, unpadded base64 public key) derived from the seed in signing.key, not from HTTP."""
    alg, version, seed = hearth.signing_key_line()
    signing_key = decode_signing_key_base64(alg, version, seed)
    return f"{alg}:{version}", encode_verify_key_base64(get_verify_key(signing_key))


def now_ms() -> int:
    return int(time.time() * 1000)
