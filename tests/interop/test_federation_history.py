"""History of a room joined over federation (issue 6): a hearth user joins a Synapse room
that already has history; `/messages` backwards on hearth fetches it from Synapse
(backfill) and walks back to the room's creation, showing only what history visibility
allows.
"""

from __future__ import annotations

from test_federation_auth import hearth_lines, synapse_token
from test_federation_rooms import auth, hearth_token, quote, wait_for

MESSAGES = 30


def synapse_room_with_history(synapse, token: str, alias: str, visibility: str) -> str:
    r = synapse.request(
        "POST",
        "/_matrix/client/v3/createRoom",
        {
            "preset": "public_chat",
            "room_alias_name": alias,
            "initial_state": [{"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": visibility}}],
        },
        headers=auth(token),
    )
    assert r.status == 200, r
    room_id = r.json()["room_id"]
    for n in range(MESSAGES):
        r = synapse.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/{alias}{n}", {"msgtype": "m.text", "body": f"{alias} {n}"}, headers=auth(token))
        assert r.status == 200, r
    return room_id


def paginate_back(hearth, token: str, room_id: str, limit: int = 7) -> list[dict]:
    """Every event `/messages?dir=b` gives, following `end` until there is none."""
    found: list[dict] = []
    token_from = ""
    for _ in range(100):
        r = hearth.request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/messages?dir=b&limit={limit}{token_from}", headers=auth(token))
        assert r.status == 200, r
        body = r.json()
        found.extend(body["chunk"])
        if "end" not in body:
            return found
        token_from = f"&from={quote(body['end'])}"
    raise AssertionError("pagination never ended")


def join_from_hearth(hearth, synapse, token: str, alias: str) -> None:
    r = hearth.request("POST", f"/_matrix/client/v3/join/{quote(f'#{alias}:syn.test')}", {}, headers=auth(token))
    assert r.status == 200, f"{r}\nhearth: {hearth_lines(hearth, 'join')}\nSynapse: {synapse.log_about('direct.test')}"


def test_messages_backfills_shared_history_to_the_room_creation(synapse, hearth_direct):
    hearth = hearth_direct
    erin = hearth_token(hearth, "erin")
    frank = synapse_token(synapse, "frank")
    room_id = synapse_room_with_history(synapse, frank, "archive", "shared")
    join_from_hearth(hearth, synapse, erin, "archive")

    events = paginate_back(hearth, erin, room_id)
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids)), "an event came twice"
    bodies = [e["content"]["body"] for e in events if e["type"] == "m.room.message"]
    assert bodies == [f"archive {n}" for n in reversed(range(MESSAGES))], f"{bodies}\n{hearth_lines(hearth, 'backfill')}"
    assert events[-1]["type"] == "m.room.create", events[-1]
    assert events[0]["type"] == "m.room.member" and events[0]["state_key"] == "@erin:direct.test"

    # All of it is held now: walking back again asks Synapse for nothing more.
    asked_before = hearth.log().count("backfill of")
    again = paginate_back(hearth, erin, room_id, limit=50)
    assert [e["event_id"] for e in again] == ids
    assert hearth.log().count("backfill of") == asked_before

    # Forwards from the beginning gives the same history, oldest first.
    r = hearth.request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/messages?dir=f&limit=100", headers=auth(erin))
    assert r.status == 200, r
    assert [e["event_id"] for e in r.json()["chunk"]] == list(reversed(ids))


def test_joined_history_visibility_hides_what_came_before_the_join(synapse, hearth_direct):
    hearth = hearth_direct
    gina = hearth_token(hearth, "gina")
    hank = synapse_token(synapse, "hank")
    room_id = synapse_room_with_history(synapse, hank, "secrets", "joined")
    join_from_hearth(hearth, synapse, gina, "secrets")
    r = synapse.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/after", {"msgtype": "m.text", "body": "after the join"}, headers=auth(hank))
    assert r.status == 200, r

    def arrived():
        events = paginate_back(hearth, gina, room_id)
        return events if any(e["content"].get("body") == "after the join" for e in events) else None

    events = wait_for("the message after the join", arrived, logs=lambda: hearth_lines(hearth, "send"))
    bodies = [e["content"].get("body") for e in events if e["type"] == "m.room.message"]
    assert bodies == ["after the join"], bodies
    # Spec: without a history visibility event the room counts as `shared`, so the room's
    # first state events (before `joined` was set; the setting event itself is judged by the
    # more permissive value) stay visible, down to the creation.
    setup = events[events.index(next(e for e in events if e["type"] == "m.room.history_visibility")) :]
    assert {e["type"] for e in setup} <= {"m.room.history_visibility", "m.room.join_rules", "m.room.canonical_alias", "m.room.power_levels", "m.room.member", "m.room.create"}
    assert events[-1]["type"] == "m.room.create"


def test_visibility_at_the_edges_of_backfill_batches_follows_the_state_there(synapse, hearth_direct):
    """60 messages while the room is `shared`, then `joined` and 5 more: more than one
    backfill answer, and the state before the oldest event of each answer comes from
    Synapse's /state_ids (the state before the join would say `joined` and hide it)."""
    hearth = hearth_direct
    ivy = hearth_token(hearth, "ivy")
    jack = synapse_token(synapse, "jack")
    r = synapse.request("POST", "/_matrix/client/v3/createRoom", {"preset": "public_chat", "room_alias_name": "long"}, headers=auth(jack))
    assert r.status == 200, r
    room_id = r.json()["room_id"]

    def send(body: str):
        r = synapse.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/{body}", {"msgtype": "m.text", "body": body}, headers=auth(jack))
        assert r.status == 200, r

    for n in range(60):
        send(f"shown{n}")
    r = synapse.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.history_visibility/", {"history_visibility": "joined"}, headers=auth(jack))
    assert r.status == 200, r
    for n in range(5):
        send(f"late{n}")
    join_from_hearth(hearth, synapse, ivy, "long")

    asked_before = hearth.log().count("backfill of !")
    events = paginate_back(hearth, ivy, room_id, limit=10)
    assert hearth.log().count("backfill of !") - asked_before >= 2, hearth_lines(hearth, "backfill")
    bodies = [e["content"]["body"] for e in events if e["type"] == "m.room.message"]
    assert bodies == [f"shown{n}" for n in reversed(range(60))], f"{bodies}\n{hearth_lines(hearth, 'backfill')}"
    assert events[-1]["type"] == "m.room.create"
