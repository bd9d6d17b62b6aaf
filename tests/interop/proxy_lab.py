"""nginx and Caddy in the interop lab, configured from docs/deployment.md.

The blocks the guide marks `<!-- tested: ... -->` are taken as they are; only what cannot
exist in the lab changes: example.com names become lab names, 127.0.0.1:8008 becomes
hearth's lab address, certificates come from the lab CA (nginx: instead of the Let's
Encrypt paths; Caddy: a `tls` line instead of ACME), and each site listens on its name's
lab address only (nginx: `listen ADDR:PORT`, and `listen [::]` lines go, the lab is IPv4
loopback; Caddy: a `bind` line).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time

from harness import REPO, Lab

GUIDE = REPO / "docs" / "deployment.md"


def guide_block(title: str) -> str:
    """The fenced block right after `<!-- tested: TITLE` in the guide."""
    text = GUIDE.read_text()
    marker = f"<!-- tested: {title}"
    start = text.index(marker)
    fence = text.index("```", start)
    body_start = text.index("\n", fence) + 1
    return text[body_start : text.index("\n```", body_start) + 1]


def lab_names(text: str, apex: str, host: str, upstream: str) -> str:
    text = text.replace("matrix.example.com", host).replace("example.com", apex)
    return text.replace("127.0.0.1:8008", upstream)


def nginx_for_lab(text: str, lab: Lab, ips: dict[str, str]) -> str:
    """Certificates from the lab CA; each server block listens on its name's lab address."""

    def cert(match: re.Match) -> str:
        crt, key = lab.cert(match.group(1))
        return str(crt if match.group(2) == "fullchain" else key)

    text = re.sub(r"/etc/letsencrypt/live/([^/\s]+)/(fullchain|privkey)\.pem", cert, text)
    blocks = re.split(r"(?m)^(?=server \{)", text)
    out = []
    for block in blocks:
        name = re.search(r"server_name\s+(\S+);", block)
        if name:
            ip = ips[name.group(1)]
            block = re.sub(r"(?m)^\s*listen \[::\]:.*\n", "", block)
            block = re.sub(r"(?m)^(\s*listen )(\d+)\b", rf"\g<1>{ip}:\2", block)
        out.append(block)
    return "".join(out)


def caddy_for_lab(text: str, lab: Lab, ips: dict[str, str]) -> str:
    """Global options for a lab process (no admin port, no port-80 redirects), and each
    site block bound to its first name's lab address, with a lab certificate."""

    def site(match: re.Match) -> str:
        names = [n.strip().rsplit(":", 1)[0] for n in match.group(1).split(",")]
        crt, key = lab.cert(names[0])
        return f"{match.group(0)}\n\tbind {ips[names[0]]}\n\ttls {crt} {key}"

    text = re.sub(r"(?m)^([a-z0-9.:, -]+) \{$", site, text)
    return "{\n\tadmin off\n\tauto_https disable_redirects\n}\n\n" + text


def start_caddy(lab: Lab, id: str, caddyfile: str, addrs: list[tuple[str, int]]) -> None:
    """Runs `caddy run` on the Caddyfile (recorded for `lab.sh stop`); returns once every
    (ip, port) accepts connections."""
    caddy = shutil.which("caddy") or "/usr/bin/caddy"
    home = lab.path / f"caddy-{id}"
    home.mkdir(exist_ok=True)
    (home / "Caddyfile").write_text(caddyfile)
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config")}
    args = [caddy, "run", "--adapter", "caddyfile", "--config", str(home / "Caddyfile")]
    check = subprocess.run([caddy, "validate", "--adapter", "caddyfile", "--config", str(home / "Caddyfile")],
                           capture_output=True, text=True, timeout=60, env=env)
    assert check.returncode == 0, f"Caddy refused the guide's Caddyfile:\n{check.stdout}{check.stderr}\n{caddyfile}"
    log = lab.path / "logs" / f"caddy-{id}.log"
    proc = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    (lab.path / "pids" / f"caddy-{id}").write_text(str(proc.pid))
    wait_listening(proc, addrs, lambda: lab.log(f"caddy-{id}.log"))


def wait_listening(proc, addrs: list[tuple[str, int]], log) -> None:
    deadline = time.monotonic() + 20
    for ip, port in addrs:
        while True:
            try:
                socket.create_connection((ip, port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the proxy did not listen on {ip}:{port}:\n{log()}")
                time.sleep(0.1)


def start_nginx(lab: Lab, id: str, server_blocks: str, addrs: list[tuple[str, int]]) -> None:
    """Runs nginx (master in the foreground, recorded for `lab.sh stop`) with the blocks in
    an `http {}` of its own; returns once every (ip, port) accepts connections."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    home = lab.path / f"nginx-{id}"
    home.mkdir(exist_ok=True)
    (home / "matrix.conf").write_text(server_blocks)
    logs = lab.path / "logs"
    temp = " ".join(f"{kind}_temp_path {home}/{kind};" for kind in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"])
    (home / "nginx.conf").write_text(
        f"""# The lab's wrapper around the guide's server blocks (matrix.conf).
user root;
daemon off;
worker_processes 1;
pid {home}/nginx.pid;
error_log {logs}/nginx-{id}-error.log info;
events {{ worker_connections 128; }}
http {{
    access_log {logs}/nginx-{id}-access.log;
    {temp}
    include {home}/matrix.conf;
}}
"""
    )
    args = [nginx, "-p", str(home), "-e", str(logs / f"nginx-{id}-error.log"), "-c", str(home / "nginx.conf")]
    test = subprocess.run([*args, "-t"], capture_output=True, text=True, timeout=30)
    assert test.returncode == 0, f"nginx refused the guide's config:\n{test.stderr}\n{server_blocks}"
    out = open(logs / f"nginx-{id}.out", "w")
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    (lab.path / "pids" / f"nginx-{id}").write_text(str(proc.pid))
    wait_listening(proc, addrs, lambda: lab.log(f"nginx-{id}-error.log"))
