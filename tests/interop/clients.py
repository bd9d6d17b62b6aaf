"""Real Matrix clients (matrix-nio, matrix-commander) against a hearth on plain HTTP.

Client tests need no TLS and no federation: each test module starts its own hearth through
the lab (`lab.sh hearth`, as every other hearth here) with one plain listener on a lab
address and registration open (`[registration] open = true`), so the clients can register
the way a user would. Addresses: <HEARTH_LAB_NET>.20 and up, port 8008 (see CLIENT_IPS), so
a module's server never collides with another module's or with the federation servers.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import nio

from harness import NET, Hearth, Lab, Listener, serve, toml_str

CLIENT_IPS = {"nio": f"{NET}.20", "commander": f"{NET}.21"}
PORT = 8008
PASSWORD = "correct horse battery staple"


@dataclass
class PlainHearth:
    hearth: Hearth
    server_name: str
    base_url: str  # what a client is given as its homeserver, e.g. http://127.0.5.20:8008

    def user_id(self, localpart: str) -> str:
        return f"@{localpart}:{self.server_name}"

    def log(self) -> str:
        return self.hearth.log()


def start_plain_hearth(lab: Lab, id: str) -> PlainHearth:
    """`hearth serve` for server name `<id>.test` on http://<CLIENT_IPS[id]>:8008, open
    registration."""
    ip, server_name = CLIENT_IPS[id], f"{id}.test"
    home = lab.path / f"hearth-{id}"
    data_dir = home / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    config = home / "hearth.toml"
    config.write_text(
        "\n".join(
            [
                f"server_name = {toml_str(server_name)}",
                f"data_dir = {toml_str(data_dir)}",
                "",
                "[[listen]]",
                f'addr = "{ip}:{PORT}"',
                "",
                "[registration]",
                "open = true",
                "",
            ]
        )
    )
    hearth = serve(lab, id, server_name, config, data_dir, [Listener(ip, ip, PORT)])
    return PlainHearth(hearth, server_name, f"http://{ip}:{PORT}")


@dataclass
class User:
    """One nio client with a running sync loop (`sync_forever`: long-polling /sync) that
    records every room event it is handed, for tests to wait on."""

    client: nio.AsyncClient
    events: list[tuple[str, object]] = field(default_factory=list)  # (room_id, room or ephemeral event)
    invites: list[str] = field(default_factory=list)  # room ids from the invite section
    left: set[str] = field(default_factory=set)  # room ids from the leave section
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None

    @property
    def user_id(self) -> str:
        return self.client.user_id

    def start_sync(self, timeout_ms: int = 30_000) -> None:
        """Runs nio's own sync loop. Each /sync waits up to timeout_ms for news, so an event
        that shows up well before that came because hearth woke the waiting request."""

        def on_event(room, event):
            self.events.append((room.room_id, event))

        def on_invite(room, event):
            self.invites.append(room.room_id)

        def on_sync(response):
            # nio runs no callbacks for the leave section: a kick or ban of this user is
            # only there (spec: client-server-api "GET /sync", rooms.leave).
            for room_id, info in response.rooms.leave.items():
                self.left.add(room_id)
                self.events.extend((room_id, event) for event in info.timeline.events)
            self.synced.set()

        self.client.add_event_callback(on_event, nio.Event)
        self.client.add_ephemeral_callback(on_event, nio.EphemeralEvent)  # typing, receipts
        self.client.add_event_callback(on_invite, nio.InviteMemberEvent)
        self.client.add_response_callback(on_sync, nio.SyncResponse)
        self.task = asyncio.create_task(self.client.sync_forever(timeout=timeout_ms, full_state=True))

    async def until(self, what: str, predicate, timeout: float = 10.0):
        """Waits until predicate() is truthy (checked after every sync); returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if self.task is not None and self.task.done():
                raise AssertionError(f"{self.user_id}'s sync loop ended: {self.task.exception()!r}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"{self.user_id}: no {what} within {timeout} s; last events: {self.events[-5:]}"
                )
            self.synced.clear()
            try:
                await asyncio.wait_for(self.synced.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def seen(self, room_id: str, kind: type, **fields):
        """The events of `kind` seen in room_id whose attributes equal `fields`."""
        return [
            e
            for r, e in self.events
            if r == room_id and isinstance(e, kind) and all(getattr(e, k, None) == v for k, v in fields.items())
        ]

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass
        await self.client.close()


def ok(response, kind: type):
    """The response, after checking nio parsed it as `kind` (else the error it got)."""
    assert isinstance(response, kind), f"expected {kind.__name__}, got {response!r}"
    return response


async def register(server: PlainHearth, localpart: str) -> User:
    """Registers localpart through nio (open registration) and returns a logged-in User."""
    client = nio.AsyncClient(server.base_url, localpart)
    ok(await client.register(localpart, PASSWORD, device_name=f"{localpart}'s nio"), nio.RegisterResponse)
    assert client.user_id == server.user_id(localpart)
    return User(client)
