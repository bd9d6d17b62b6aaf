#!/usr/bin/env python3
"""send -> sync latency: the time from user A's `PUT /send` leaving the client to user B's
long-polling `/sync` answer arriving with that message, on one server.

    latency.py BASE_URL [--messages 500]

Registers two fresh users (open registration: `/register` with m.login.dummy), A creates a
room and invites B, B joins. Then, per message: B's `/sync?since=...&timeout=30000` is sent
and given 2 ms to park in the server, the clock starts, A's PUT is sent, and the clock stops
when B's whole sync response has been read. One thread, two persistent HTTP/1.1 connections,
`selectors` on both sockets, so the stop time is when B's answer arrives, not when Python
gets round to it. Prints median, p90, p99 (ms) of that, and of A's own PUT round trip.
Standard library only, so it runs with any python3 (against hearth or Synapse alike).
"""

from __future__ import annotations

import argparse
import json
import selectors
import socket
import statistics
import time
import urllib.parse
import uuid


class Connection:
    """A keep-alive HTTP/1.1 connection that sends a request and reads one response."""

    def __init__(self, host: str, port: int):
        self.host = f"{host}:{port}"
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def send(self, method: str, path: str, body=None, token: str | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(data)}"]
        if body is not None:
            head.append("Content-Type: application/json")
        if token:
            head.append(f"Authorization: Bearer {token}")
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)

    def response_ready(self) -> tuple[int, bytes] | None:
        """Reads what the socket has; the (status, body) once a whole response is in."""
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buffer += chunk
        return self._complete()

    def _complete(self) -> tuple[int, bytes] | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = self.buffer[:end].decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return self._chunked(int(lines[0].split()[1]), end + 4)
        length = int(headers.get("content-length", "0"))
        if len(self.buffer) < end + 4 + length:
            return None
        body = self.buffer[end + 4 : end + 4 + length]
        self.buffer = self.buffer[end + 4 + length :]
        return int(lines[0].split()[1]), body

    def _chunked(self, status: int, at: int) -> tuple[int, bytes] | None:
        """A chunked body (Synapse sends some), once its last chunk is in."""
        body = b""
        while True:
            line_end = self.buffer.find(b"\r\n", at)
            if line_end < 0:
                return None
            size = int(self.buffer[at:line_end].split(b";")[0], 16)
            if len(self.buffer) < line_end + 2 + size + 2:
                return None
            body += self.buffer[line_end + 2 : line_end + 2 + size]
            at = line_end + 2 + size + 2
            if size == 0:  # no trailers expected
                self.buffer = self.buffer[at:]
                return status, body

    def request(self, method: str, path: str, body=None, token: str | None = None):
        self.send(method, path, body, token)
        while True:
            done = self._complete() or self.response_ready()
            if done:
                status, data = done
                return status, (json.loads(data) if data else None)


def register(conn: Connection, localpart: str, password: str) -> str:
    """Open registration through user-interactive auth with m.login.dummy; the token."""
    body = {"username": localpart, "password": password, "initial_device_display_name": "bench"}
    status, answer = conn.request("POST", "/_matrix/client/v3/register", body)
    if status == 401:
        body["auth"] = {"type": "m.login.dummy", "session": answer.get("session")}
        status, answer = conn.request("POST", "/_matrix/client/v3/register", body)
    if status != 200:
        raise SystemExit(f"register {localpart}: {status} {answer}")
    return answer["access_token"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(name: str, values_s: list[float]) -> str:
    ms = [v * 1000 for v in values_s]
    return (
        f"{name}: median {statistics.median(ms):.3f} ms, p90 {percentile(ms, 90):.3f} ms, "
        f"p99 {percentile(ms, 99):.3f} ms, min {min(ms):.3f} ms, max {max(ms):.3f} ms (n={len(ms)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url")
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--setup-sender", action="store_true", help="only register a user and create a room; print 'TOKEN ROOM_ID' (for wrk)")
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.base_url)
    host, port = url.hostname, url.port or 80

    if args.setup_sender:
        conn = Connection(host, port)
        token = register(conn, f"bench_w_{uuid.uuid4().hex[:8]}", "bench password w")
        status, room = conn.request("POST", "/_matrix/client/v3/createRoom", {}, token)
        assert status == 200, room
        print(token, room["room_id"])
        return

    a, b = Connection(host, port), Connection(host, port)
    run = uuid.uuid4().hex[:8]
    token_a = register(a, f"bench_a_{run}", "bench password a")
    token_b = register(b, f"bench_b_{run}", "bench password b")
    whoami = b.request("GET", "/_matrix/client/v3/account/whoami", token=token_b)[1]
    status, room = a.request("POST", "/_matrix/client/v3/createRoom", {"invite": [whoami["user_id"]]}, token_a)
    assert status == 200, room
    room_id = urllib.parse.quote(room["room_id"], safe="")
    status, joined = b.request("POST", f"/_matrix/client/v3/rooms/{room_id}/join", {}, token_b)
    assert status == 200, joined
    status, first = b.request("GET", "/_matrix/client/v3/sync?timeout=0", token=token_b)
    assert status == 200, first
    since = first["next_batch"]

    selector = selectors.DefaultSelector()
    selector.register(a.sock, selectors.EVENT_READ, a)
    selector.register(b.sock, selectors.EVENT_READ, b)
    latencies, sends = [], []
    for i in range(args.warmup + args.messages):
        b.send("GET", f"/_matrix/client/v3/sync?since={urllib.parse.quote(since)}&timeout=30000", token=token_b)
        time.sleep(0.002)  # let the long-poll park in the server
        body = {"msgtype": "m.text", "body": f"latency probe {i}"}
        started = time.perf_counter()
        a.send("PUT", f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{run}-{i}", body, token_a)
        sync_done = send_done = None
        sync_answer = None
        while sync_done is None or send_done is None:
            for key, _ in selector.select(timeout=30):
                conn = key.data
                got = conn.response_ready()
                if got is None:
                    continue
                if conn is b:
                    sync_done, sync_answer = time.perf_counter(), got
                else:
                    send_done = time.perf_counter()
                    assert got[0] == 200, got
        status, data = sync_answer
        assert status == 200, (status, data[:300])
        sync = json.loads(data)
        events = sync.get("rooms", {}).get("join", {}).get(room["room_id"], {}).get("timeline", {}).get("events", [])
        if not any(e.get("content", {}).get("body") == body["body"] for e in events):
            # The sync woke for something else (e.g. the room's own earlier events): skip.
            since = sync["next_batch"]
            continue
        since = sync["next_batch"]
        if i >= args.warmup:
            latencies.append(sync_done - started)
            sends.append(send_done - started)

    print(summary("send -> sync", latencies))
    print(summary("send round trip (A)", sends))


if __name__ == "__main__":
    main()
