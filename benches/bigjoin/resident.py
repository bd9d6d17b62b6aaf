"""The resident side of the large-room join benchmark: a minimal federation server that
holds the synthetic room of room.py and answers what a joining server asks (spec: s2s
"Joining Rooms" and what follows a join).

    resident.py --name big.test --ip 127.0.106.30 --port 8448 --cert C --key K --cache DIR [--members N]

Serves over TLS: /_matrix/key/v2/server, federation/v1/version, query/directory
(#big:<name>), make_join, v1 and v2 send_join (the full state and its auth chain, whatever
omit_members asks: a resident may always send everything), /send (accepted, ignored),
state_ids, state, event, get_missing_events (none), backfill, query/profile. Requests are
not authenticated: only the joiners of the benchmark talk to it. Prints "ready <room_id>"
once it listens. The joiners' own joins are not added to the room: each joiner sees the
same room of MEMBERS members.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import random
import ssl
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from signedjson.key import encode_verify_key_base64, get_verify_key
from signedjson.sign import sign_json

import room as room_mod


def compact(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class Resident:
    def __init__(self, room: room_mod.Room):
        self.room = room
        self.name = room.server_name
        state_ids = list(room.state.values())
        # A resident answers in no particular order; a fixed shuffle keeps runs comparable.
        random.Random(7).shuffle(state_ids)
        # The big answer is made once: each send_join only splices in what differs.
        self.state_blob = b"[" + b",".join(compact(room.events[i]) for i in state_ids) + b"]"
        self.chain_blob = b"[" + b",".join(compact(room.events[i]) for i in room.auth_chain_ids) + b"]"
        self.state_ids_blob = compact({"pdu_ids": state_ids, "auth_chain_ids": room.auth_chain_ids})

    def key_document(self) -> bytes:
        key = self.room.signing_key
        doc = {
            "server_name": self.name,
            "valid_until_ts": int(time.time() * 1000) + 86_400_000,
            "verify_keys": {f"ed25519:{key.version}": {"key": encode_verify_key_base64(get_verify_key(key))}},
            "old_verify_keys": {},
        }
        return compact(sign_json(doc, self.name, key))

    def make_join(self, user_id: str) -> dict:
        r = self.room
        return {
            "room_version": room_mod.ROOM_VERSION,
            "event": {
                "type": "m.room.member",
                "room_id": r.room_id,
                "sender": user_id,
                "state_key": user_id,
                "content": {"membership": "join"},
                "auth_events": r.join_auth_events(),
                "prev_events": [r.last_id],
                "depth": r.depth + 1,
                "origin": self.name,
                "origin_server_ts": int(time.time() * 1000),
            },
        }

    def send_join(self, v2: bool) -> bytes:
        head = compact({"origin": self.name, "members_omitted": False, "servers_in_room": [self.name]})[:-1]
        body = head + b',"auth_chain":' + self.chain_blob + b',"state":' + self.state_blob + b"}"
        return body if v2 else b"[200," + body + b"]"

    def pdus(self, ids) -> bytes:
        events = [self.room.events[i] for i in ids if i in self.room.events]
        return compact({"origin": self.name, "origin_server_ts": int(time.time() * 1000), "pdus": events})


def handler_for(resident: Resident, log):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            log.write(f"{time.strftime('%H:%M:%S')} {self.address_string()} {fmt % args}\n")
            log.flush()

        def answer(self, status: int, body) -> None:
            data = body if isinstance(body, bytes) else compact(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self):
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            return json.loads(data) if data else None

        def do_GET(self):
            self.route("GET")

        def do_PUT(self):
            self.route("PUT")

        def do_POST(self):
            self.route("POST")

        def route(self, method: str) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            parts = [urllib.parse.unquote(p) for p in url.path.split("/")[1:]]
            body = self.body() if method in ("PUT", "POST") else None
            r = resident.room
            match parts:
                case ["_matrix", "key", "v2", "server", *_]:
                    return self.answer(200, resident.key_document())
                case ["_matrix", "federation", "v1", "version"]:
                    return self.answer(200, {"server": {"name": "bigjoin-resident", "version": "1"}})
                case ["_matrix", "federation", "v1", "query", "directory"]:
                    if query.get("room_alias", [""])[0] == f"#big:{resident.name}":
                        return self.answer(200, {"room_id": r.room_id, "servers": [resident.name]})
                case ["_matrix", "federation", "v1", "query", "profile"]:
                    user = query.get("user_id", [""])[0]
                    return self.answer(200, {"displayname": user.split(":")[0].lstrip("@")})
                case ["_matrix", "federation", "v1", "make_join", room_id, user_id] if room_id == r.room_id:
                    return self.answer(200, resident.make_join(user_id))
                case ["_matrix", "federation", ("v1" | "v2") as v, "send_join", room_id, _] if room_id == r.room_id:
                    return self.answer(200, resident.send_join(v == "v2"))
                case ["_matrix", "federation", "v1", "send", _]:
                    pdus = {ev.get("event_id", str(i)): {} for i, ev in enumerate((body or {}).get("pdus", []))}
                    return self.answer(200, {"pdus": pdus})
                case ["_matrix", "federation", "v1", "state_ids", room_id] if room_id == r.room_id:
                    return self.answer(200, resident.state_ids_blob)
                case ["_matrix", "federation", "v1", "state", room_id] if room_id == r.room_id:
                    body = b'{"auth_chain":' + resident.chain_blob + b',"pdus":' + resident.state_blob + b"}"
                    return self.answer(200, body)
                case ["_matrix", "federation", "v1", "event", event_id] if event_id in r.events:
                    return self.answer(200, resident.pdus([event_id]))
                case ["_matrix", "federation", "v1", "get_missing_events", room_id] if room_id == r.room_id:
                    return self.answer(200, {"events": []})
                case ["_matrix", "federation", "v1", "backfill", room_id] if room_id == r.room_id:
                    limit = min(int(query.get("limit", ["10"])[0]), 100)
                    start = query.get("v", [r.last_id])[0]
                    end = r.order.index(start) + 1 if start in r.events else len(r.order)
                    return self.answer(200, resident.pdus(reversed(r.order[max(0, end - limit) : end])))
            self.answer(404, {"errcode": "M_UNRECOGNIZED", "error": f"{method} {url.path} not served"})

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--ip", required=True)
    parser.add_argument("--port", type=int, default=8448)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--cache", required=True)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--log", default="-")
    args = parser.parse_args()
    started = time.monotonic()
    room = room_mod.load(pathlib.Path(args.cache), args.name, args.members)
    resident = Resident(room)
    log = sys.stderr if args.log == "-" else open(args.log, "a")
    server = ThreadingHTTPServer((args.ip, args.port), handler_for(resident, log))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    print(
        f"ready {room.room_id} ({len(room.state)} state events, {len(resident.state_blob)} bytes of state, "
        f"{time.monotonic() - started:.1f} s to load)",
        flush=True,
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
