"""The large-room join benchmark (issue 6): a release hearth and Synapse each join a remote
room of MEMBERS members (about 7 MB of full state in send_join) held by resident.py, in
one private lab (tests/interop/lab.sh). Prints, for each joiner, the time from the
client's `POST /join/#big:big.test` to its 200, and memory: hearth's peak RSS (VmHWM of
its process, start-up included) and each server's peak above its idle RSS (sampled every
10 ms during the join), then the ratios. Run it through benches/bigjoin.sh.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import pathlib
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests" / "interop"))

from harness import Lab, Response, toml_str  # noqa: E402

PASSWORD = "bench-password-1"


def status_kb(pid: int, field: str) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (a shared, busy machine stretches wall
    time; this is what the join cost)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sampler:
    """Samples a process's VmRSS every 10 ms until stopped; keeps the largest."""

    def __init__(self, pid: int):
        self.pid, self.peak, self.running = pid, 0, True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while self.running:
            try:
                self.peak = max(self.peak, status_kb(self.pid, "VmRSS"))
            except (OSError, RuntimeError):
                return
            time.sleep(0.01)

    def stop(self) -> int:
        self.running = False
        self.thread.join()
        return self.peak


class Server:
    def __init__(self, lab: Lab, kind: str, name: str, ip: str, port: int, pid_file: pathlib.Path):
        self.lab, self.kind, self.name, self.ip, self.port = lab, kind, name, ip, port
        self.pid = int(pid_file.read_text())

    def request(self, method, path, body=None, token=None) -> Response:
        """HTTPS to the server's lab address, checked against the lab CA; Synapse can take
        minutes to join, so no short time-out."""
        conn = http.client.HTTPSConnection(
            self.name, self.port, context=ssl.create_default_context(cafile=str(self.lab.ca)), timeout=900
        )
        conn._create_connection = lambda addr, *a, **kw: socket.create_connection((self.ip, addr[1]), *a, **kw)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            resp = conn.getresponse()
            return Response(resp.status, dict(resp.getheaders()), resp.read())
        finally:
            conn.close()

    def token(self, localpart: str) -> str:
        body = {"username": localpart, "password": PASSWORD, "auth": {"type": "m.login.dummy"}}
        r = self.request("POST", "/_matrix/client/v3/register", body)
        if r.status == 401 and "session" in r.json():
            body["auth"]["session"] = r.json()["session"]
            r = self.request("POST", "/_matrix/client/v3/register", body)
        if r.status != 200:
            raise RuntimeError(f"{self.kind}: register {localpart}: {r}")
        return r.json()["access_token"]


def measure_join(server: Server, token: str, alias: str, settle: float) -> dict:
    idle = status_kb(server.pid, "VmRSS")
    sampler = Sampler(server.pid)
    cpu_before = cpu_seconds(server.pid)
    started = time.monotonic()
    r = server.request("POST", f"/_matrix/client/v3/join/{urllib.parse.quote(alias, safe='')}", {}, token)
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(server.pid) - cpu_before
    # Work the server does right after answering (sending its join on, etc.) counts too.
    time.sleep(settle)
    peak = sampler.stop()
    result = {
        "status": r.status,
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "idle_kb": idle,
        "peak_kb": peak,
        "hwm_kb": status_kb(server.pid, "VmHWM"),
    }
    if r.status != 200:
        result["error"] = str(r)[:500]
    return result


def members_seen(server: Server, token: str, room_id: str) -> int:
    r = server.request("GET", f"/_matrix/client/v3/rooms/{urllib.parse.quote(room_id, safe='')}/joined_members", None, token)
    return len(r.json().get("joined", {})) if r.status == 200 else -r.status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", required=True)
    parser.add_argument("--net", required=True)
    parser.add_argument("--cache", required=True)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--hearth-bin", required=True)
    parser.add_argument("--no-synapse", action="store_true")
    parser.add_argument("--settle", type=float, default=1.0)
    parser.add_argument("--perf", help="record hearth's join with `perf record -g` into this file")
    args = parser.parse_args()
    net = args.net
    ips = {"big.test": f"{net}.30", "hearth.test": f"{net}.31", "syn.test": f"{net}.32"}
    os.environ["HEARTH_LAB_DNS_IP"] = f"{net}.53"
    os.environ["HEARTH_BIN"] = args.hearth_bin
    lab_path = pathlib.Path(args.lab)
    if lab_path.exists():
        Lab(lab_path).sh("stop")
        shutil.rmtree(lab_path)
    lab = Lab(lab_path)
    lab.sh("init")
    resident = None
    try:
        for name, ip in ips.items():
            lab.host(name, ip)
        lab.sh("dns")
        cert, key = lab.cert("big.test")
        resident = subprocess.Popen(
            [sys.executable, str(HERE / "resident.py"), "--name", "big.test", "--ip", ips["big.test"],
             "--cert", str(cert), "--key", str(key), "--cache", args.cache, "--members", str(args.members),
             "--log", str(lab.path / "logs" / "resident.log")],
            stdout=subprocess.PIPE, text=True, cwd=HERE,
        )
        ready = resident.stdout.readline().strip()
        if not ready.startswith("ready"):
            raise RuntimeError(f"resident did not start: {ready!r}")
        print(f"resident big.test: {ready}", flush=True)
        room_id = ready.split()[1]

        home = lab.path / "hearth-bench"
        (home / "data").mkdir(parents=True)
        hcert, hkey = lab.cert("hearth.test")
        config = home / "hearth.toml"
        config.write_text("\n".join([
            'server_name = "hearth.test"', f"data_dir = {toml_str(home / 'data')}", "",
            "[[listen]]", f'addr = "{ips["hearth.test"]}:8448"', f"tls_cert = {toml_str(hcert)}", f"tls_key = {toml_str(hkey)}", "",
            "[federation]", f"extra_ca = [{toml_str(lab.ca)}]", "",
            "[registration]", "open = true", "",
        ]))
        lab.sh("hearth", "bench", str(config), timeout=60)
        joiners = [Server(lab, "hearth", "hearth.test", ips["hearth.test"], 8448, lab.path / "pids" / "hearth-bench")]
        if not args.no_synapse:
            lab.sh("synapse", "syn.test", ips["syn.test"], "8448", timeout=300)
            joiners.append(Server(lab, "Synapse", "syn.test", ips["syn.test"], 8448, lab.path / "pids" / "synapse-syn.test"))

        results = {}
        for server in joiners:
            token = server.token("joiner")
            time.sleep(2)  # let start-up work settle before reading the idle RSS
            perf = None
            if args.perf and server.kind == "hearth":
                perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-p", str(server.pid), "-o", args.perf],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1)
            result = measure_join(server, token, "#big:big.test", args.settle)
            if perf is not None:
                perf.send_signal(2)
                perf.wait()
            result["members"] = members_seen(server, token, room_id)
            results[server.kind] = result
            mb = lambda kb: f"{kb / 1024:.1f} MB"  # noqa: E731
            line = (
                f"{server.kind}: POST /join -> {result['status']} in {result['seconds']:.2f} s "
                f"({result['cpu_seconds']:.2f} s of CPU); "
                f"RSS idle {mb(result['idle_kb'])}, peak {mb(result['peak_kb'])} "
                f"(+{mb(result['peak_kb'] - result['idle_kb'])}), VmHWM {mb(result['hwm_kb'])}; "
                f"{result['members']} joined members seen"
            )
            print(line + (f"\n  {result['error']}" if "error" in result else ""), flush=True)
        if "Synapse" in results and results["hearth"]["status"] == 200 and results["Synapse"]["status"] == 200:
            h, s = results["hearth"], results["Synapse"]
            growth = lambda r: max(r["peak_kb"] - r["idle_kb"], 1)  # noqa: E731
            print(
                f"ratio Synapse/hearth: time {s['seconds'] / h['seconds']:.1f}x, "
                f"CPU {s['cpu_seconds'] / max(h['cpu_seconds'], 0.01):.1f}x, "
                f"memory growth {growth(s) / growth(h):.1f}x",
                flush=True,
            )
        print(json.dumps(results), flush=True)
    finally:
        if resident is not None:
            resident.terminate()
            resident.wait()
        lab.sh("stop")


if __name__ == "__main__":
    main()
