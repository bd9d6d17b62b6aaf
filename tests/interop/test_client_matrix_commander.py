"""matrix-commander (the CLI, pinned in tests/requirements.txt) against hearth: it logs in
with a password and writes its credentials file, sends a message that a matrix-nio user sees
through sync, and reads the room back with `--tail` (/messages) and `--listen once` (/sync).

The room is version 11: matrix-commander 8.0.6 rejects room IDs without a server part
(`is_room_id` wants exactly one ':'), and v12 room IDs have none (spec rooms/v12 "Room IDs").
The same holds against Synapse 1.163, whose default is v12 too.
"""

import asyncio
import json
import os
import pathlib
import subprocess
import sys

import nio
import pytest

from clients import PASSWORD, User, ok, register, start_plain_hearth

MATRIX_COMMANDER = pathlib.Path(sys.executable).parent / "matrix-commander"


@pytest.fixture(scope="module")
def server(lab):
    return start_plain_hearth(lab, "commander")


def commander(home: pathlib.Path, *args: str) -> str:
    """Runs matrix-commander with its credentials and store in home; returns its stdout."""
    assert MATRIX_COMMANDER.exists(), f"no {MATRIX_COMMANDER}: pip install -r tests/requirements.txt"
    proc = subprocess.run(
        [str(MATRIX_COMMANDER), "--credentials", str(home / "credentials.json"), "--store", str(home / "store"), *args],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=home,
        env={**os.environ, "HOME": str(home)},
    )
    assert proc.returncode == 0, f"matrix-commander {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_matrix_commander_logs_in_sends_and_reads_back(server, tmp_path):
    async def setup():
        alice, bob = await register(server, "alice"), await register(server, "bob")
        room = ok(
            await alice.client.room_create(room_version="11", name="commander room", invite=[bob.user_id]),
            nio.RoomCreateResponse,
        ).room_id
        ok(await bob.client.join(room), nio.JoinResponse)
        await alice.close()
        await bob.close()
        return room

    async def bob_sees(body):
        bob = User(nio.AsyncClient(server.base_url, bob_id))
        ok(await bob.client.login(PASSWORD), nio.LoginResponse)
        bob.start_sync()
        try:
            [event] = await bob.until(f"{body!r}", lambda: bob.seen(room, nio.RoomMessageText, body=body))
            return event
        finally:
            await bob.close()

    room = asyncio.run(setup())
    alice_id, bob_id = server.user_id("alice"), server.user_id("bob")

    commander(
        tmp_path, "--login", "password", "--homeserver", server.base_url, "--user-login", alice_id,
        "--password", PASSWORD, "--device", "matrix-commander", "--room-default", room,
    )
    credentials = json.loads((tmp_path / "credentials.json").read_text())
    assert credentials["user_id"] == alice_id and credentials["room_id"] == room, credentials
    assert credentials["homeserver"] == server.base_url and credentials["access_token"], credentials

    async def whoami():
        client = nio.AsyncClient(server.base_url, alice_id)
        client.access_token = credentials["access_token"]
        me = ok(await client.whoami(), nio.WhoamiResponse)
        await client.close()
        return me

    me = asyncio.run(whoami())
    assert (me.user_id, me.device_id) == (alice_id, credentials["device_id"])

    commander(tmp_path, "-m", "hello from matrix-commander")
    event = asyncio.run(bob_sees("hello from matrix-commander"))
    assert event.sender == alice_id

    async def bob_says(body):
        client = nio.AsyncClient(server.base_url, bob_id)
        ok(await client.login(PASSWORD), nio.LoginResponse)
        ok(await client.room_send(room, "m.room.message", {"msgtype": "m.text", "body": body}), nio.RoomSendResponse)
        await client.close()

    asyncio.run(bob_says("hello matrix-commander"))
    # --tail reads the last messages through /messages, newest first.
    tail = commander(tmp_path, "--tail", "5", "--listen-self")
    lines = [ln for ln in tail.splitlines() if ln.endswith("hello matrix-commander") or ln.endswith("hello from matrix-commander")]
    assert len(lines) == 2 and lines[0].endswith("hello matrix-commander"), tail
    assert bob_id in lines[0] and alice_id in lines[1], tail

    # --listen once: the messages a /sync hands out since the store's last sync token.
    asyncio.run(bob_says("news for matrix-commander"))
    once = commander(tmp_path, "--listen", "once")
    assert any(ln.endswith("news for matrix-commander") and bob_id in ln for ln in once.splitlines()), once
