"""A synthetic large room, generated and signed the way a real resident server would have
made it, and cached on disk so reruns of the benchmark start in a second.

The room (version 10): the creator's create event, join, power levels, public join rules,
history visibility, then MEMBERS - 1 joins of other users of the resident server. Every
1000 joins the creator raises a few new members in the power levels, so the auth chains
are those of a room that lived a while: later joins cite later power-level events, and
the older ones stay in the auth chain (not in the state). Every event is hashed and
signed with the resident's key by Synapse's own functions
(synapse.crypto.event_signing.add_hashes_and_signatures); event IDs are the reference
hashes of the redacted events (spec: room versions 4+).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pathlib
import random

from canonicaljson import encode_canonical_json
from signedjson.key import decode_signing_key_base64, encode_signing_key_base64, generate_signing_key
from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
from synapse.crypto.event_signing import add_hashes_and_signatures
from synapse.synapse_rust.events import redact_event_dict

ROOM_VERSION = "10"
KEY_VERSION = "big1"
# A fixed past time: the cache stays valid, and key validity (v5+) holds.
BASE_TS = 1_760_000_000_000


def event_id_of(room_version, event: dict) -> str:
    """The reference hash of the redacted event (spec: "Calculating the reference hash")."""
    pruned = redact_event_dict(room_version, event)
    for name in ("signatures", "unsigned", "age_ts"):
        pruned.pop(name, None)
    digest = hashlib.sha256(encode_canonical_json(pruned)).digest()
    return "$" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


class Room:
    """The generated room: events by ID, its state (type, state_key) -> ID, the auth chain
    of that state, and the event a new join goes after."""

    def __init__(self, server_name: str, signing_key, room_id: str, events: list[dict], ids: list[str]):
        self.server_name = server_name
        self.signing_key = signing_key
        self.room_id = room_id
        self.room_version = KNOWN_ROOM_VERSIONS[ROOM_VERSION]
        self.events = dict(zip(ids, events))
        self.order = ids
        self.state: dict[tuple[str, str], str] = {}
        for event_id, event in zip(ids, events):
            if "state_key" in event:
                self.state[(event["type"], event["state_key"])] = event_id
        state_ids = set(self.state.values())
        chain: set[str] = set()
        todo = [a for i in state_ids for a in self.events[i]["auth_events"]]
        while todo:
            i = todo.pop()
            if i not in chain:
                chain.add(i)
                todo.extend(self.events[i]["auth_events"])
        self.auth_chain_ids = sorted(chain)
        self.last_id = ids[-1]
        self.depth = events[-1]["depth"]

    def join_auth_events(self) -> list[str]:
        return [self.state[("m.room.create", "")], self.state[("m.room.power_levels", "")], self.state[("m.room.join_rules", "")]]


def generate(server_name: str, members: int, signing_key) -> tuple[str, list[dict], list[str]]:
    room_version = KNOWN_ROOM_VERSIONS[ROOM_VERSION]
    room_id = f"!bigroom{members}:{server_name}"
    creator = f"@admin:{server_name}"
    events: list[dict] = []
    ids: list[str] = []
    ts = BASE_TS
    rng = random.Random(members)

    def add(kind: str, state_key: str, sender: str, content: dict, auth: list[str]) -> str:
        nonlocal ts
        ts += rng.randint(50, 5000)
        event = {
            "auth_events": auth,
            "content": content,
            "depth": len(events) + 1,
            "origin_server_ts": ts,
            "prev_events": ids[-1:],
            "room_id": room_id,
            "sender": sender,
            "state_key": state_key,
            "type": kind,
        }
        add_hashes_and_signatures(room_version, event, server_name, signing_key)
        event_id = event_id_of(room_version, event)
        events.append(event)
        ids.append(event_id)
        return event_id

    create = add("m.room.create", "", creator, {"creator": creator, "room_version": ROOM_VERSION}, [])
    creator_join = add("m.room.member", creator, creator, {"membership": "join", "displayname": "Admin"}, [create])
    powers = {creator: 100}

    def power_levels() -> str:
        content = {
            "users": dict(powers),
            "users_default": 0,
            "events": {"m.room.name": 50, "m.room.power_levels": 100, "m.room.history_visibility": 100},
            "events_default": 0,
            "state_default": 50,
            "ban": 50,
            "kick": 50,
            "redact": 50,
            "invite": 0,
        }
        return add("m.room.power_levels", "", creator, content, [create, creator_join, *pl[-1:]])

    pl: list[str] = []
    pl.append(power_levels())
    join_rules = add("m.room.join_rules", "", creator, {"join_rule": "public"}, [create, creator_join, pl[-1]])
    add("m.room.history_visibility", "", creator, {"history_visibility": "shared"}, [create, creator_join, pl[-1]])
    add("m.room.name", "", creator, {"name": f"A room of {members} members"}, [create, creator_join, pl[-1]])
    for n in range(1, members):
        user = f"@user{n:05d}:{server_name}"
        tag = hashlib.sha256(user.encode()).hexdigest()[:24]
        content = {"membership": "join", "displayname": f"User {n:05d}", "avatar_url": f"mxc://{server_name}/{tag}"}
        add("m.room.member", user, user, content, [create, pl[-1], join_rules])
        if n % 1000 == 0:
            for m in range(n - 2, n + 1):
                powers[f"@user{m:05d}:{server_name}"] = 50
            pl.append(power_levels())
    return room_id, events, ids


def load(cache_dir: pathlib.Path, server_name: str, members: int) -> Room:
    """The room from cache_dir, generated (a few seconds) and cached on first use."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    key_file = cache_dir / f"{server_name}.key"
    if key_file.exists():
        signing_key = decode_signing_key_base64("ed25519", KEY_VERSION, key_file.read_text().strip())
    else:
        signing_key = generate_signing_key(KEY_VERSION)
        key_file.write_text(encode_signing_key_base64(signing_key))
    room_file = cache_dir / f"{server_name}-{members}.json"
    if room_file.exists():
        cached = json.loads(room_file.read_text())
        room_id, events, ids = cached["room_id"], cached["events"], cached["ids"]
    else:
        room_id, events, ids = generate(server_name, members, signing_key)
        tmp = room_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"room_id": room_id, "events": events, "ids": ids}))
        os.replace(tmp, room_file)
    return Room(server_name, signing_key, room_id, events, ids)
