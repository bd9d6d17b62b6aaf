"""`hearth check` in the lab, run through `lab.sh exec` so it sees the lab's hosts file
and dnsmasq (SRV records included), trusting the lab CA by `[federation] extra_ca`.

Each way a server can be reached (spec server-server-api "Resolving server names") is
checked end to end, with a real Synapse as the peer: Synapse on :8448 (step 6), hearth
behind a well-known (step 3.2), hearth behind an SRV record (step 4), and a certificate
for the wrong name named as the fault."""

from __future__ import annotations

import json
import subprocess

from harness import LAB_SH, hearth_bin, toml_str


def run_check(lab, name: str):
    """(exit status, report, stderr) of `hearth check NAME --json` inside the lab."""
    config = lab.path / "check.toml"
    config.write_text(
        "\n".join(
            [
                'server_name = "checker.test"',
                f"data_dir = {toml_str(lab.path / 'check-data')}",
                "[[listen]]",
                'addr = "127.0.0.1:1"',
                "[federation]",
                f"extra_ca = [{toml_str(lab.ca)}]",
                "",
            ]
        )
    )
    proc = subprocess.run(
        [str(LAB_SH), "exec", str(lab.path), "--", str(hearth_bin()), "check", name, "--json",
         "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise AssertionError(f"no JSON report ({e}):\n{proc.stdout}\n{proc.stderr}") from e
    return proc.returncode, report, proc.stderr


def codes(report, which: str) -> list[str]:
    return [finding["code"] for finding in report[which]]


def assert_all_checks_ok(report):
    assert report["connections"], report
    for connection in report["connections"]:
        for name in ["AllChecksOK", "ValidCertificates", "MatchingServerName",
                     "FutureValidUntilTS", "HasEd25519Key", "AllEd25519ChecksOK"]:
            assert connection["checks"][name] is True, (name, connection)


def test_synapse_is_federation_ok(lab, synapse):
    status, report, stderr = run_check(lab, "syn.test")
    assert status == 0, (report["problems"], stderr)
    assert report["FederationOK"] is True
    assert_all_checks_ok(report)
    connection = report["connections"][0]
    assert connection["addr"] == f"{lab.hosts['syn.test']}:8448"
    assert connection["version"]["name"] == "Synapse"
    assert connection["tls_server_name"] == "syn.test"
    assert "syn.test" in connection["certificates"][0]["subject_alternative_names"]
    # No well-known, no SRV: both SRV names asked (step 4 and 5), then 8448 (step 6).
    steps = report["resolution"]["steps"]
    assert any("SRV _matrix-fed._tcp.syn.test: none" in s for s in steps), steps
    assert any("SRV _matrix._tcp.syn.test: none" in s for s in steps), steps
    assert report["problems"] == []


def test_hearth_behind_a_well_known(lab, hearth_delegated):
    status, report, stderr = run_check(lab, "deleg.test")
    assert status == 0, (report["problems"], stderr)
    assert report["well_known"]["m_server"] == "hdeleg.test:8448"
    assert [hop["status"] for hop in report["well_known"]["hops"]] == [200]
    destination = report["resolution"]["destinations"][0]
    assert destination == {
        "addr": f"{lab.hosts['hdeleg.test']}:8448",
        "host_header": "hdeleg.test:8448",
        "tls_server_name": "hdeleg.test",
    }
    assert_all_checks_ok(report)
    assert connection_name(report) == "hearth"


def test_hearth_behind_an_srv_record(lab, hearth_srv):
    status, report, stderr = run_check(lab, "srv.test")
    assert status == 0, (report["problems"], stderr)
    srv = {entry["name"]: entry for entry in report["srv"]}
    records = srv["_matrix-fed._tcp.srv.test"]["records"]
    assert [(r["target"], r["port"]) for r in records] == [("hsrv.test", 8450)]
    # Host header and certificate name stay the server name, never the SRV target.
    destination = report["resolution"]["destinations"][0]
    assert destination == {
        "addr": f"{lab.hosts['hsrv.test']}:8450",
        "host_header": "srv.test",
        "tls_server_name": "srv.test",
    }
    assert_all_checks_ok(report)


def test_a_certificate_for_another_name_is_the_fault_named(lab, hearth_wrong_cert):
    status, report, _ = run_check(lab, "wrongcert.test")
    assert status == 1
    assert report["FederationOK"] is False
    assert "certificate_wrong_name" in codes(report, "problems"), report["problems"]
    assert report["connections"][0]["checks"]["ValidCertificates"] is False


def connection_name(report) -> str:
    return report["connections"][0]["version"]["name"]


def test_a_308_on_the_well_known_is_warned_and_a_delegation_to_another_server_named(
    lab, hearth_delegated
):
    """redir.test's apex (a tiny HTTPS server here) answers 308, then delegates to
    hdeleg.test:8448 — which serves deleg.test, not redir.test."""
    import http.server
    import ssl
    import threading

    from harness import NET

    ip = f"{NET}.30"
    lab.host("redir.test", ip)
    crt, key = lab.cert("redir.test")

    class Apex(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/.well-known/matrix/server":
                self.send_response(308)
                self.send_header("Location", "/moved")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                body = b'{"m.server": "hdeleg.test:8448"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((ip, 443), Apex)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(crt), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        status, report, _ = run_check(lab, "redir.test")
    finally:
        server.shutdown()
        server.server_close()
    hops = report["well_known"]["hops"]
    assert [(hop["status"], hop["location"]) for hop in hops] == [(308, "/moved"), (200, None)]
    assert report["well_known"]["m_server"] == "hdeleg.test:8448"
    assert "well_known_redirect_308" in codes(report, "warnings"), report["warnings"]
    assert status == 1
    assert codes(report, "problems") == ["keys_wrong_server"], report["problems"]
    assert report["connections"][0]["keys"]["server_name"] == "deleg.test"
