"""A self-hoster's first steps: `hearth init` writes a config and a key, only the listener
is edited, `hearth serve` runs on it, and Synapse fetches the key init announced."""

import re
import stat
import subprocess

from harness import IPS, Listener, expected_key, hearth_bin, now_ms, serve


def test_init_then_serve_publishes_the_announced_key(lab, synapse):
    home = lab.path / "hearth-init"
    home.mkdir()
    config, data_dir = home / "hearth.toml", home / "data"
    out = subprocess.run(
        [str(hearth_bin()), "init", "--server-name", "init.test", "--data-dir", str(data_dir), "--config", str(config)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out
    key_file = data_dir / "signing.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    _, version, _ = key_file.read_text().split()
    assert f"ed25519:{version}" in out.stdout + out.stderr, "init should name the key it made"

    # Point the template's listener at the lab: the only edit a self-hoster must make,
    # besides the certificate paths.
    crt, key = lab.cert("init.test")
    text = config.read_text()
    edits = [
        (r'(?m)^addr\s*=\s*"[^"]*"', f'addr = "{IPS["init.test"]}:8448"'),
        (r'(?m)^tls_cert\s*=\s*"[^"]*"', f'tls_cert = "{crt}"'),
        (r'(?m)^tls_key\s*=\s*"[^"]*"', f'tls_key = "{key}"'),
        (r"(?m)^extra_ca\s*=\s*\[\]", f'extra_ca = ["{lab.ca}"]'),
    ]
    for pattern, value in edits:
        text, n = re.subn(pattern, value, text, count=1)
        assert n == 1, f"the config hearth init wrote has no {pattern}:\n{config.read_text()}"
    config.write_text(text)

    hearth = serve(lab, "init", "init.test", config, data_dir, [Listener("init.test", IPS["init.test"], 8448)])
    key_id, public = expected_key(hearth)
    assert key_id == f"ed25519:{version}", "serve must keep the key init wrote"
    r = hearth.get("/_matrix/key/v2/server")
    assert r.status == 200, r
    assert r.json()["verify_keys"] == {key_id: {"key": public}}

    query = {"server_keys": {"init.test": {key_id: {"minimum_valid_until_ts": now_ms()}}}}
    r = synapse.request("POST", "/_matrix/key/v2/query", body=query)
    assert r.status == 200, r
    docs = [d for d in r.json()["server_keys"] if d.get("server_name") == "init.test"]
    assert [d["verify_keys"].get(key_id) for d in docs] == [{"key": public}], (
        f"{r}\n{synapse.log_about('init.test')}"
    )
