"""Outbound transactions survive a crash (issue 6, "hearth is killed (SIGKILL) while it has
queued outbound events; after restart they are delivered and nothing is lost").

A Synapse user sits in a room of a hearth of its own (outbox.test). Synapse is paused with
SIGSTOP, so hearth's messages stay in its outbox; hearth is killed with SIGKILL; Synapse
resumes and hearth starts again on the same data directory: every message reaches
Synapse, in order, from hearth's outbox alone (nothing else sends them again).
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from harness import NET, Listener, serve, start_hearth
from test_federation_auth import hearth_lines, synapse_token
from test_federation_rooms import auth, bodies, hearth_token, quote, wait_for

NAME, IP = "outbox.test", f"{NET}.16"


@pytest.fixture(scope="module")
def hearth_outbox(lab):
    """outbox.test on :8448: a hearth this module may kill and start again."""
    lab.host(NAME, IP)
    return start_hearth(lab, "outbox", NAME, [(Listener(NAME, IP, 8448), [NAME])])


def pid_of(lab, what: str) -> int:
    return int((lab.path / "pids" / what).read_text())


def send(hearth, token: str, room_id: str, txn: str, body: str) -> None:
    r = hearth.request(
        "PUT",
        f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/{txn}",
        {"msgtype": "m.text", "body": body},
        headers=auth(token),
    )
    assert r.status == 200, r


def test_messages_queued_at_a_sigkill_are_delivered_after_the_restart(synapse, hearth_outbox, lab):
    hearth = hearth_outbox
    alice = hearth_token(hearth, "alice")
    r = hearth.request(
        "POST",
        "/_matrix/client/v3/createRoom",
        {"preset": "public_chat", "room_alias_name": "outbox"},
        headers=auth(alice),
    )
    assert r.status == 200, r
    room_id = r.json()["room_id"]
    bob = synapse_token(synapse, "outboxbob")
    r = synapse.request("POST", f"/_matrix/client/v3/join/{quote('#outbox:' + NAME)}", {}, headers=auth(bob))
    assert r.status == 200, f"{r}\n{synapse.log_about(NAME)}"

    def bob_joined():
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.member/{quote('@outboxbob:syn.test')}"
        r = hearth.request("GET", path, headers=auth(alice))
        return r.status == 200 and r.json().get("membership") == "join"

    wait_for("bob's join on hearth", bob_joined)
    send(hearth, alice, room_id, "t0", "before the crash")
    wait_for("the first message on Synapse", lambda: "before the crash" in bodies(synapse, bob, room_id))

    queued = [f"queued {n}" for n in range(5)]
    synapse_pid = pid_of(lab, "synapse-syn.test")
    os.kill(synapse_pid, signal.SIGSTOP)
    try:
        for n, body in enumerate(queued):
            send(hearth, alice, room_id, f"q{n}", body)
        time.sleep(1)
        hearth_pid = pid_of(lab, "hearth-outbox")
        os.kill(hearth_pid, signal.SIGKILL)
        wait_for("hearth to die", lambda: not os.path.exists(f"/proc/{hearth_pid}") or _zombie(hearth_pid), timeout=10)
    finally:
        os.kill(synapse_pid, signal.SIGCONT)
    # The first transaction may have been written to a pooled connection before the pause,
    # and Synapse may still read and apply it; the others were only in hearth's outbox.

    restarted = serve(lab, "outbox", NAME, hearth.config, hearth.data_dir, hearth.listeners)
    wait_for(
        "the queued messages on Synapse",
        lambda: all(body in bodies(synapse, bob, room_id) for body in queued),
        timeout=60,
        logs=lambda: f"hearth:\n{hearth_lines(restarted, 'federation sender')}\nSynapse:\n{synapse.log_about(NAME)}",
    )
    # /messages?dir=b lists the newest first.
    seen = [body for body in bodies(synapse, bob, room_id) if body in queued]
    assert seen == list(reversed(queued)), seen


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True
