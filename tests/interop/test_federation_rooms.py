"""Rooms across hearth and Synapse (issue 6): a Synapse user joins a hearth room by alias
(query/directory, make_join, send_join), messages flow both ways (/send transactions),
and the joined room shows up on both sides with the same members.
"""

from __future__ import annotations

import time
import urllib.parse

from test_federation_auth import PASSWORD, add_hearth_user, hearth_lines, synapse_token


def hearth_token(hearth, localpart: str) -> str:
    add_hearth_user(hearth, localpart)
    login = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": localpart}, "password": PASSWORD}
    r = hearth.request("POST", "/_matrix/client/v3/login", login)
    assert r.status == 200, r
    return r.json()["access_token"]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def wait_for(what: str, probe, timeout: float = 20.0, logs=None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last answer: {last}\n{logs() if logs else ''}")


def bodies(requester, token: str, room_id: str) -> list[str]:
    r = requester.request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/messages?dir=b&limit=50", headers=auth(token))
    assert r.status == 200, r
    return [e["content"].get("body") for e in r.json()["chunk"] if e["type"] == "m.room.message"]


def test_synapse_user_joins_a_hearth_room_and_they_talk(synapse, hearth_direct):
    hearth = hearth_direct
    alice = hearth_token(hearth, "alice")
    r = hearth.request(
        "POST",
        "/_matrix/client/v3/createRoom",
        {"preset": "public_chat", "room_alias_name": "lobby", "name": "Lobby"},
        headers=auth(alice),
    )
    assert r.status == 200, r
    room_id = r.json()["room_id"]

    bob = synapse_token(synapse, "bob")
    r = synapse.request("POST", f"/_matrix/client/v3/join/{quote('#lobby:direct.test')}", {}, headers=auth(bob))
    assert r.status == 200, f"{r}\nSynapse: {synapse.log_about('direct.test')}\nhearth: {hearth_lines(hearth, 'federation')}"
    assert r.json()["room_id"] == room_id

    # hearth sees bob as a member.
    def bob_joined():
        r = hearth.request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.member/{quote('@bob:syn.test')}", headers=auth(alice))
        return r.status == 200 and r.json().get("membership") == "join"

    wait_for("bob's join on hearth", bob_joined)
    # Synapse has the room's state as hearth sent it in send_join.
    r = synapse.request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.name", headers=auth(bob))
    assert r.status == 200 and r.json()["name"] == "Lobby", r

    # Synapse → hearth: bob's message arrives in a /send transaction.
    r = synapse.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/b1", {"msgtype": "m.text", "body": "hi from synapse"}, headers=auth(bob))
    assert r.status == 200, r
    wait_for("bob's message on hearth", lambda: "hi from synapse" in bodies(hearth, alice, room_id), logs=lambda: hearth_lines(hearth, "send"))

    # hearth → Synapse: alice's message goes out through hearth's transaction sender.
    r = hearth.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/a1", {"msgtype": "m.text", "body": "hi from hearth"}, headers=auth(alice))
    assert r.status == 200, r
    wait_for("alice's message on Synapse", lambda: "hi from hearth" in bodies(synapse, bob, room_id), logs=lambda: synapse.log_about("direct.test"))


def test_hearth_user_joins_a_synapse_room_and_they_talk(synapse, hearth_direct):
    hearth = hearth_direct
    carol = hearth_token(hearth, "carol")
    dave = synapse_token(synapse, "dave")
    r = synapse.request(
        "POST",
        "/_matrix/client/v3/createRoom",
        {"preset": "public_chat", "room_alias_name": "garden", "name": "Garden", "topic": "on Synapse"},
        headers=auth(dave),
    )
    assert r.status == 200, r
    room_id = r.json()["room_id"]
    r = synapse.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/d0", {"msgtype": "m.text", "body": "before you came"}, headers=auth(dave))
    assert r.status == 200, r

    r = hearth.request("POST", f"/_matrix/client/v3/join/{quote('#garden:syn.test')}", {}, headers=auth(carol))
    assert r.status == 200, f"{r}\nhearth: {hearth_lines(hearth, 'join')}\nSynapse: {synapse.log_about('direct.test')}"
    assert r.json()["room_id"] == room_id

    # The room is usable on hearth: its state came with send_join and shows in /sync.
    r = hearth.request("GET", "/_matrix/client/v3/sync", headers=auth(carol))
    assert r.status == 200, r
    joined = r.json()["rooms"]["join"]
    assert room_id in joined, joined.keys()
    state = {(e["type"], e.get("state_key")): e["content"] for e in joined[room_id]["state"]["events"] + joined[room_id]["timeline"]["events"]}
    assert state[("m.room.name", "")]["name"] == "Garden"
    assert state[("m.room.member", "@dave:syn.test")]["membership"] == "join"
    assert state[("m.room.member", "@carol:direct.test")]["membership"] == "join"

    # Synapse sees carol joined.
    def carol_joined():
        r = synapse.request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/joined_members", headers=auth(dave))
        return r.status == 200 and "@carol:direct.test" in r.json()["joined"]

    wait_for("carol's join on Synapse", carol_joined)

    r = synapse.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/d1", {"msgtype": "m.text", "body": "welcome"}, headers=auth(dave))
    assert r.status == 200, r
    wait_for("dave's message on hearth", lambda: "welcome" in bodies(hearth, carol, room_id), logs=lambda: hearth_lines(hearth, "send"))
    r = hearth.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/c1", {"msgtype": "m.text", "body": "thanks"}, headers=auth(carol))
    assert r.status == 200, r
    wait_for("carol's message on Synapse", lambda: "thanks" in bodies(synapse, dave, room_id), logs=lambda: synapse.log_about("direct.test"))


def invites_of(hearth, token: str) -> dict:
    r = hearth.request("GET", "/_matrix/client/v3/sync", headers=auth(token))
    assert r.status == 200, r
    return r.json()["rooms"]["invite"]


def member_state(synapse, token: str, room_id: str, user_id: str):
    r = synapse.request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.member/{quote(user_id)}", headers=auth(token))
    return r.json().get("membership") if r.status == 200 else None


def test_a_synapse_user_invites_hearth_users_who_accept_or_decline(synapse, hearth_direct):
    hearth = hearth_direct
    erin, frank = hearth_token(hearth, "erin"), hearth_token(hearth, "frank")
    gina = synapse_token(synapse, "gina")
    r = synapse.request(
        "POST",
        "/_matrix/client/v3/createRoom",
        {"preset": "private_chat", "name": "Invite only", "invite": ["@erin:direct.test", "@frank:direct.test"]},
        headers=auth(gina),
    )
    assert r.status == 200, f"{r}\nhearth: {hearth_lines(hearth, 'invite')}"
    room_id = r.json()["room_id"]

    # Both see the invite in sync, with the room's name from the stripped state.
    for token in (erin, frank):
        invites = wait_for("the invite in hearth's sync", lambda: invites_of(hearth, token).get(room_id))
        stripped = {e["type"]: e["content"] for e in invites["invite_state"]["events"]}
        assert stripped["m.room.name"]["name"] == "Invite only"
        assert stripped["m.room.member"]["membership"] == "invite"

    # erin accepts: she joins through gina's server.
    r = hearth.request("POST", f"/_matrix/client/v3/rooms/{quote(room_id)}/join", {}, headers=auth(erin))
    assert r.status == 200, f"{r}\n{hearth_lines(hearth, 'join')}"
    wait_for("erin joined on Synapse", lambda: member_state(synapse, gina, room_id, "@erin:direct.test") == "join")

    # frank declines: his leave goes to gina's server, and the invite is gone from his sync.
    r = hearth.request("POST", f"/_matrix/client/v3/rooms/{quote(room_id)}/leave", {}, headers=auth(frank))
    assert r.status == 200, f"{r}\n{hearth_lines(hearth, 'leave')}"
    wait_for("frank's decline on Synapse", lambda: member_state(synapse, gina, room_id, "@frank:direct.test") == "leave")
    assert room_id not in invites_of(hearth, frank)


def test_a_hearth_user_invites_a_synapse_user_who_joins(synapse, hearth_direct):
    hearth = hearth_direct
    hana = hearth_token(hearth, "hana")
    ivan = synapse_token(synapse, "ivan")
    r = hearth.request(
        "POST",
        "/_matrix/client/v3/createRoom",
        {"preset": "private_chat", "name": "Tea", "invite": ["@ivan:syn.test"]},
        headers=auth(hana),
    )
    assert r.status == 200, r
    room_id = r.json()["room_id"]

    def ivan_invited():
        r = synapse.request("GET", "/_matrix/client/v3/sync?timeout=0", headers=auth(ivan))
        return r.status == 200 and room_id in r.json()["rooms"]["invite"]

    wait_for("the invite on Synapse", ivan_invited, logs=lambda: hearth_lines(hearth, "invit"))
    r = synapse.request("POST", f"/_matrix/client/v3/rooms/{quote(room_id)}/join", {}, headers=auth(ivan))
    assert r.status == 200, f"{r}\n{synapse.log_about(room_id)}"

    def ivan_joined():
        r = hearth.request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.member/{quote('@ivan:syn.test')}", headers=auth(hana))
        return r.status == 200 and r.json().get("membership") == "join"

    wait_for("ivan's join on hearth", ivan_joined)
    r = synapse.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/i1", {"msgtype": "m.text", "body": "thanks for the tea"}, headers=auth(ivan))
    assert r.status == 200, r
    wait_for("ivan's message on hearth", lambda: "thanks for the tea" in bodies(hearth, hana, room_id))


import pytest  # noqa: E402


@pytest.mark.parametrize("version", ["1", "6", "9", "10", "11", "12"])
def test_rooms_of_each_version_work_both_ways(synapse, hearth_direct, version):
    """A Synapse room and a hearth room of each room version: the other side's user joins
    and a message goes each way."""
    hearth = hearth_direct
    h_user, s_user = f"hv{version}", f"sv{version}"
    h_token, s_token = hearth_token(hearth, h_user), synapse_token(synapse, s_user)
    h_id, s_id = f"@{h_user}:direct.test", f"@{s_user}:syn.test"

    # A Synapse room; the hearth user joins by room ID through syn.test.
    r = synapse.request("POST", "/_matrix/client/v3/createRoom", {"preset": "public_chat", "room_version": version}, headers=auth(s_token))
    assert r.status == 200, r
    synapse_room = r.json()["room_id"]
    r = hearth.request("POST", f"/_matrix/client/v3/join/{quote(synapse_room)}?via=syn.test", {}, headers=auth(h_token))
    assert r.status == 200, f"v{version}: {r}\n{hearth_lines(hearth, 'join')}"

    # A hearth room; the Synapse user joins by room ID through direct.test.
    r = hearth.request("POST", "/_matrix/client/v3/createRoom", {"preset": "public_chat", "room_version": version}, headers=auth(h_token))
    assert r.status == 200, r
    hearth_room = r.json()["room_id"]
    r = synapse.request("POST", f"/_matrix/client/v3/join/{quote(hearth_room)}?server_name=direct.test", {}, headers=auth(s_token))
    assert r.status == 200, f"v{version}: {r}\n{synapse.log_about(hearth_room)}"

    for room_id in (synapse_room, hearth_room):
        r = synapse.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/s{version}", {"msgtype": "m.text", "body": f"from {s_id}"}, headers=auth(s_token))
        assert r.status == 200, r
        r = hearth.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/h{version}", {"msgtype": "m.text", "body": f"from {h_id}"}, headers=auth(h_token))
        assert r.status == 200, f"v{version}: {r}"
        wait_for(f"v{version}: Synapse's message on hearth", lambda: f"from {s_id}" in bodies(hearth, h_token, room_id), logs=lambda: hearth_lines(hearth, "rejected"))
        wait_for(f"v{version}: hearth's message on Synapse", lambda: f"from {h_id}" in bodies(synapse, s_token, room_id), logs=lambda: synapse.log_about(room_id))


def test_delegation_both_ways_srv_synapse_and_well_known_hearth(synapse_srv, hearth_delegated):
    """The issue's delegation cases: a hearth user joins a room of a Synapse found only
    through SRV; a Synapse user joins a room of a hearth delegated by .well-known from its
    apex name."""
    synapse, hearth = synapse_srv, hearth_delegated
    # hearth (deleg.test, federation on hdeleg.test) → Synapse (synsrv.test by SRV).
    kim = synapse_token(synapse, "kim")
    r = synapse.request("POST", "/_matrix/client/v3/createRoom", {"preset": "public_chat", "room_alias_name": "srvroom"}, headers=auth(kim))
    assert r.status == 200, r
    srv_room = r.json()["room_id"]
    lee = hearth_token(hearth, "lee")
    r = hearth.request("POST", f"/_matrix/client/v3/join/{quote('#srvroom:synsrv.test')}", {}, headers=auth(lee))
    assert r.status == 200, f"{r}\n{hearth_lines(hearth, 'join')}"
    assert r.json()["room_id"] == srv_room

    # Synapse (synsrv.test) → hearth (deleg.test via its well-known).
    r = hearth.request("POST", "/_matrix/client/v3/createRoom", {"preset": "public_chat", "room_alias_name": "wkroom"}, headers=auth(lee))
    assert r.status == 200, r
    wk_room = r.json()["room_id"]
    r = synapse.request("POST", f"/_matrix/client/v3/join/{quote('#wkroom:deleg.test')}", {}, headers=auth(kim))
    assert r.status == 200, f"{r}\n{synapse.log_about('deleg.test')}"
    assert r.json()["room_id"] == wk_room

    for room_id in (srv_room, wk_room):
        r = hearth.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/l1", {"msgtype": "m.text", "body": "hello from lee"}, headers=auth(lee))
        assert r.status == 200, r
        wait_for("lee's message on Synapse", lambda: "hello from lee" in bodies(synapse, kim, room_id), logs=lambda: synapse.log_about(room_id))
        r = synapse.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/k1", {"msgtype": "m.text", "body": "hello from kim"}, headers=auth(kim))
        assert r.status == 200, r
        wait_for("kim's message on hearth", lambda: "hello from kim" in bodies(hearth, lee, room_id), logs=lambda: hearth_lines(hearth, "send"))


class Ephemeral:
    """A client's view of a room's ephemeral events through incremental syncs (Synapse sends
    typing and receipts only as changes since a token)."""

    def __init__(self, requester, token: str, room_id: str):
        self.requester, self.token, self.room_id = requester, token, room_id
        r = requester.request("GET", "/_matrix/client/v3/sync?timeout=0", headers=auth(token))
        assert r.status == 200, r
        self.since = r.json()["next_batch"]
        self.seen: list = self._events(r.json())

    def _events(self, body) -> list:
        # Synapse leaves out empty sections.
        room = body.get("rooms", {}).get("join", {}).get(self.room_id, {})
        return room.get("ephemeral", {}).get("events", [])

    def poll(self) -> list:
        r = self.requester.request("GET", f"/_matrix/client/v3/sync?timeout=500&since={quote(self.since)}", headers=auth(self.token))
        assert r.status == 200, r
        self.since = r.json()["next_batch"]
        self.seen += self._events(r.json())
        return self.seen

    def typers(self) -> list:
        return [u for e in self.poll() if e["type"] == "m.typing" for u in e["content"]["user_ids"]]

    def readers(self, event_id: str) -> list:
        return [u for e in self.poll() if e["type"] == "m.receipt" for u in e["content"].get(event_id, {}).get("m.read", {})]


def test_typing_and_read_receipts_cross_both_ways(synapse, hearth_direct):
    hearth = hearth_direct
    mia = hearth_token(hearth, "mia")
    ned = synapse_token(synapse, "ned")
    r = hearth.request("POST", "/_matrix/client/v3/createRoom", {"preset": "public_chat", "room_alias_name": "chatter"}, headers=auth(mia))
    assert r.status == 200, r
    room_id = r.json()["room_id"]
    r = synapse.request("POST", f"/_matrix/client/v3/join/{quote('#chatter:direct.test')}", {}, headers=auth(ned))
    assert r.status == 200, r

    on_synapse, on_hearth = Ephemeral(synapse, ned, room_id), Ephemeral(hearth, mia, room_id)
    # Typing: hearth → Synapse, then Synapse → hearth.
    r = hearth.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/typing/{quote('@mia:direct.test')}", {"typing": True, "timeout": 30000}, headers=auth(mia))
    assert r.status == 200, r
    wait_for("mia typing on Synapse", lambda: "@mia:direct.test" in on_synapse.typers())
    r = synapse.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/typing/{quote('@ned:syn.test')}", {"typing": True, "timeout": 30000}, headers=auth(ned))
    assert r.status == 200, r
    wait_for("ned typing on hearth", lambda: "@ned:syn.test" in on_hearth.typers(), logs=lambda: hearth_lines(hearth, "send"))

    # Read receipts: each reads the other's message.
    r = hearth.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/m1", {"msgtype": "m.text", "body": "read me"}, headers=auth(mia))
    mia_event = r.json()["event_id"]
    r = synapse.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/n1", {"msgtype": "m.text", "body": "and me"}, headers=auth(ned))
    ned_event = r.json()["event_id"]
    wait_for("ned's message on hearth", lambda: "and me" in bodies(hearth, mia, room_id))
    wait_for("mia's message on Synapse", lambda: "read me" in bodies(synapse, ned, room_id))
    r = synapse.request("POST", f"/_matrix/client/v3/rooms/{quote(room_id)}/receipt/m.read/{quote(mia_event)}", {}, headers=auth(ned))
    assert r.status == 200, r
    wait_for("ned's receipt on hearth", lambda: "@ned:syn.test" in on_hearth.readers(mia_event))
    r = hearth.request("POST", f"/_matrix/client/v3/rooms/{quote(room_id)}/receipt/m.read/{quote(ned_event)}", {}, headers=auth(mia))
    assert r.status == 200, r
    wait_for("mia's receipt on Synapse", lambda: "@mia:direct.test" in on_synapse.readers(ned_event), logs=lambda: synapse.log_about("m.receipt"))


def test_leave_kick_and_ban_are_seen_on_both_sides(synapse, hearth_direct):
    hearth = hearth_direct
    olga = hearth_token(hearth, "olga")
    pete, quin = synapse_token(synapse, "pete"), synapse_token(synapse, "quin")
    r = hearth.request("POST", "/_matrix/client/v3/createRoom", {"preset": "public_chat", "room_alias_name": "court"}, headers=auth(olga))
    assert r.status == 200, r
    room_id = r.json()["room_id"]
    for token in (pete, quin):
        r = synapse.request("POST", f"/_matrix/client/v3/join/{quote('#court:direct.test')}", {}, headers=auth(token))
        assert r.status == 200, r

    def on_hearth(user_id):
        r = hearth.request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.member/{quote(user_id)}", headers=auth(olga))
        return r.json().get("membership") if r.status == 200 else None

    def on_synapse(token, user_id):
        r = synapse.request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.member/{quote(user_id)}", headers=auth(token))
        return r.json().get("membership") if r.status == 200 else None

    wait_for("both joined on hearth", lambda: on_hearth("@pete:syn.test") == "join" and on_hearth("@quin:syn.test") == "join")
    # hearth's admin kicks pete and bans quin; Synapse sees both.
    r = hearth.request("POST", f"/_matrix/client/v3/rooms/{quote(room_id)}/kick", {"user_id": "@pete:syn.test", "reason": "test"}, headers=auth(olga))
    assert r.status == 200, r
    r = hearth.request("POST", f"/_matrix/client/v3/rooms/{quote(room_id)}/ban", {"user_id": "@quin:syn.test"}, headers=auth(olga))
    assert r.status == 200, r
    # Synapse applies both: the kicked and the banned user see the room in their sync's leave section.
    def joined_rooms(token):
        r = synapse.request("GET", "/_matrix/client/v3/joined_rooms", headers=auth(token))
        return r.json().get("joined_rooms", []) if r.status == 200 else []

    wait_for("quin's ban applied on Synapse", lambda: room_id not in joined_rooms(quin))
    wait_for("pete's kick applied on Synapse", lambda: room_id not in joined_rooms(pete))
    # pete rejoins and leaves by himself; hearth sees the leave.
    r = synapse.request("POST", f"/_matrix/client/v3/join/{quote(room_id)}?server_name=direct.test", {}, headers=auth(pete))
    assert r.status == 200, r
    wait_for("pete back on hearth", lambda: on_hearth("@pete:syn.test") == "join")
    r = synapse.request("POST", f"/_matrix/client/v3/rooms/{quote(room_id)}/leave", {}, headers=auth(pete))
    assert r.status == 200, r
    wait_for("pete's leave on hearth", lambda: on_hearth("@pete:syn.test") == "leave")
    assert on_hearth("@quin:syn.test") == "ban"
    # The banned user cannot come back.
    r = synapse.request("POST", f"/_matrix/client/v3/join/{quote(room_id)}?server_name=direct.test", {}, headers=auth(quin))
    assert r.status == 403, r

