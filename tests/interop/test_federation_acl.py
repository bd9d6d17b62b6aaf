"""Server ACLs with Synapse (issue 6): a hearth room whose m.room.server_acl denies
syn.test refuses a Synapse user's join (make_join answers 403 M_FORBIDDEN); once the ACL
is lifted the same user joins, and Synapse applies the room's ACL state it received.
"""

from __future__ import annotations

from test_federation_auth import hearth_lines, synapse_token
from test_federation_rooms import auth, hearth_token, quote, wait_for


def set_acl(hearth, token: str, room_id: str, content: dict) -> None:
    r = hearth.request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.server_acl", content, headers=auth(token))
    assert r.status == 200, r


def test_an_acl_denying_synapse_refuses_its_join_until_lifted(synapse, hearth_direct):
    hearth = hearth_direct
    alice = hearth_token(hearth, "alice")
    r = hearth.request(
        "POST",
        "/_matrix/client/v3/createRoom",
        {"preset": "public_chat", "room_alias_name": "acl-room"},
        headers=auth(alice),
    )
    assert r.status == 200, r
    room_id = r.json()["room_id"]
    set_acl(hearth, alice, room_id, {"allow": ["*"], "deny": ["syn.test"], "allow_ip_literals": False})

    erin = synapse_token(synapse, "erin")
    r = synapse.request("POST", f"/_matrix/client/v3/join/{quote(room_id)}?server_name=direct.test", {}, headers=auth(erin))
    assert r.status == 403, f"{r}\nSynapse: {synapse.log_about('make_join')}\nhearth: {hearth_lines(hearth, 'make_join')}"
    assert "make_join" in hearth_lines(hearth, "403"), hearth_lines(hearth, "make_join")
    r = hearth.request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/members", headers=auth(alice))
    assert r.status == 200 and "@erin:syn.test" not in str(r.json()), r

    # Lifted: the same join goes through, and Synapse holds the ACL as room state.
    set_acl(hearth, alice, room_id, {"allow": ["*"], "deny": ["evil.test"]})
    r = synapse.request("POST", f"/_matrix/client/v3/join/{quote(room_id)}?server_name=direct.test", {}, headers=auth(erin))
    assert r.status == 200, f"{r}\nSynapse: {synapse.log_about('direct.test')}\nhearth: {hearth_lines(hearth, 'send_join')}"

    def erin_joined():
        r = hearth.request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.member/{quote('@erin:syn.test')}", headers=auth(alice))
        return r.status == 200 and r.json().get("membership") == "join"

    wait_for("erin's join on hearth", erin_joined)
    r = synapse.request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.server_acl", headers=auth(erin))
    assert r.status == 200 and r.json()["deny"] == ["evil.test"], r
