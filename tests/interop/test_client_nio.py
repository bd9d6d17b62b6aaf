"""matrix-nio (a real client library) against hearth: two users register, log in, create a
room, invite, join, chat both ways, change the room's name and topic, edit, redact, kick,
ban, leave, and page through history, each seen by the other user through nio's own sync
loop (long-polling /sync), plus the errors a client must be able to tell apart.

Each test registers its own users, so the tests share one server but no state.
"""

import asyncio
import itertools
import time

import nio
import pytest

from clients import PASSWORD, User, ok, register, start_plain_hearth

_names = itertools.count()


@pytest.fixture(scope="module")
def server(lab):
    return start_plain_hearth(lab, "nio")


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 120))


async def pair(server, *names):
    """Registers a fresh user per name (unique across tests)."""
    n = next(_names)
    return [await register(server, f"{name}{n}") for name in names]


def text(body: str) -> dict:
    return {"msgtype": "m.text", "body": body}


def test_register_login_whoami_logout(server):
    async def scenario():
        (alice,) = await pair(server, "alice")
        user_id, localpart = alice.user_id, alice.user_id[1:].split(":")[0]
        await alice.close()
        # Spec client-server-api "Login": m.id.user takes a localpart or a full user ID.
        for who in (localpart, user_id):
            client = nio.AsyncClient(server.base_url, who)
            login = ok(await client.login(PASSWORD, device_name="second device"), nio.LoginResponse)
            assert login.user_id == user_id
            me = ok(await client.whoami(), nio.WhoamiResponse)
            assert (me.user_id, me.device_id) == (user_id, login.device_id)
            token = client.access_token
            ok(await client.logout(), nio.LogoutResponse)
            client.access_token = token  # nio forgets it; the server must have too
            gone = await client.whoami()
            assert isinstance(gone, nio.WhoamiError) and gone.status_code == "M_UNKNOWN_TOKEN", gone
            await client.close()

    run(scenario())


def test_two_users_chat_through_the_sync_loop(server):
    async def scenario():
        alice, bob = await pair(server, "alice", "bob")
        try:
            alice.start_sync()
            bob.start_sync()
            room = ok(
                await alice.client.room_create(name="Hearth room", topic="first topic", invite=[bob.user_id]),
                nio.RoomCreateResponse,
            ).room_id
            await bob.until("invite", lambda: room in bob.invites or room in bob.client.invited_rooms)
            ok(await bob.client.join(room), nio.JoinResponse)
            await alice.until("bob's join", lambda: alice.seen(room, nio.RoomMemberEvent, state_key=bob.user_id, membership="join"))
            # Bob's room state came through sync: name and topic as alice created them.
            await bob.until("room state", lambda: room in bob.client.rooms and bob.client.rooms[room].name == "Hearth room")
            assert bob.client.rooms[room].topic == "first topic"

            # Both ways. The sync loops wait 30 s per request: a message arriving within
            # the 10 s allowed by `until` means hearth woke the waiting /sync.
            sent = ok(await alice.client.room_send(room, "m.room.message", text("hello bob")), nio.RoomSendResponse)
            [got] = await bob.until("alice's message", lambda: bob.seen(room, nio.RoomMessageText, body="hello bob"))
            assert (got.event_id, got.sender) == (sent.event_id, alice.user_id)
            ok(await bob.client.room_send(room, "m.room.message", text("hi alice")), nio.RoomSendResponse)
            await alice.until("bob's reply", lambda: alice.seen(room, nio.RoomMessageText, body="hi alice", sender=bob.user_id))

            # State changes by one member are seen by the other.
            ok(await alice.client.room_put_state(room, "m.room.name", {"name": "Renamed"}), nio.RoomPutStateResponse)
            ok(await alice.client.room_put_state(room, "m.room.topic", {"topic": "second topic"}), nio.RoomPutStateResponse)
            await bob.until("new name", lambda: bob.client.rooms[room].name == "Renamed")
            await bob.until("new topic", lambda: bob.client.rooms[room].topic == "second topic")
            ok(await bob.client.room_put_state(room, "m.room.topic", {"topic": "bob's topic"}), nio.RoomPutStateError)

            # An edit (m.replace relation) and a redaction.
            edit = {
                **text("* hello bob!"),
                "m.new_content": text("hello bob!"),
                "m.relates_to": {"rel_type": "m.replace", "event_id": sent.event_id},
            }
            ok(await alice.client.room_send(room, "m.room.message", edit), nio.RoomSendResponse)
            [edited] = await bob.until("the edit", lambda: bob.seen(room, nio.RoomMessageText, body="* hello bob!"))
            assert edited.source["content"]["m.relates_to"] == edit["m.relates_to"]
            redaction = ok(await alice.client.room_redact(room, sent.event_id, reason="typo"), nio.RoomRedactResponse)
            [redacted] = await bob.until("the redaction", lambda: bob.seen(room, nio.RedactionEvent, redacts=sent.event_id))
            assert (redacted.event_id, redacted.reason) == (redaction.event_id, "typo")

            # Bob leaves: alice sees it, bob's sync moves the room to `leave`, and what
            # alice says after that does not reach bob.
            ok(await bob.client.room_leave(room), nio.RoomLeaveResponse)
            await alice.until("bob's leave", lambda: alice.seen(room, nio.RoomMemberEvent, state_key=bob.user_id, membership="leave"))
            await bob.until("room in the leave section", lambda: room in bob.left)
            ok(await alice.client.room_send(room, "m.room.message", text("after bob left")), nio.RoomSendResponse)
            ok(await alice.client.room_send(room, "m.room.message", text("marker")), nio.RoomSendResponse)
            await alice.until("own marker", lambda: alice.seen(room, nio.RoomMessageText, body="marker"))
            await asyncio.sleep(0.5)
            assert not bob.seen(room, nio.RoomMessageText, body="after bob left")
        finally:
            await alice.close()
            await bob.close()

    run(scenario())


def test_a_waiting_sync_returns_at_once_on_a_message_and_waits_out_its_timeout_otherwise(server):
    async def scenario():
        alice, bob = await pair(server, "alice", "bob")
        try:
            room = ok(await alice.client.room_create(invite=[bob.user_id]), nio.RoomCreateResponse).room_id
            ok(await bob.client.join(room), nio.JoinResponse)
            ok(await bob.client.sync(timeout=0, full_state=True), nio.SyncResponse)

            started = time.monotonic()
            idle = ok(await bob.client.sync(timeout=1500), nio.SyncResponse)
            waited = time.monotonic() - started
            assert waited >= 1.2, f"an empty /sync with timeout=1500 returned after {waited:.3f} s"
            assert not idle.rooms.join.get(room, None) or not idle.rooms.join[room].timeline.events

            async def send_later():
                await asyncio.sleep(0.3)
                return await alice.client.room_send(room, "m.room.message", text("wake up"))

            started = time.monotonic()
            sender = asyncio.create_task(send_later())
            woken = ok(await bob.client.sync(timeout=20_000), nio.SyncResponse)
            waited = time.monotonic() - started
            ok(await sender, nio.RoomSendResponse)
            bodies = [e.body for e in woken.rooms.join[room].timeline.events if isinstance(e, nio.RoomMessageText)]
            assert bodies == ["wake up"] and waited < 10, (bodies, waited)
        finally:
            await alice.close()
            await bob.close()

    run(scenario())


def test_history_of_500_messages_through_room_messages(server):
    async def scenario():
        alice, bob = await pair(server, "alice", "bob")
        try:
            room = ok(await alice.client.room_create(invite=[bob.user_id]), nio.RoomCreateResponse).room_id
            ok(await bob.client.join(room), nio.JoinResponse)
            bodies = [f"message {i}" for i in range(500)]
            for body in bodies:
                ok(await alice.client.room_send(room, "m.room.message", text(body)), nio.RoomSendResponse)

            # A fresh client: its first sync has a limited timeline with prev_batch, and
            # /messages from there walks back to the room's creation.
            first = ok(await bob.client.sync(timeout=0, full_state=True), nio.SyncResponse)
            timeline = first.rooms.join[room].timeline
            assert timeline.limited and timeline.prev_batch, timeline
            recent = [e.body for e in timeline.events if isinstance(e, nio.RoomMessageText)]
            assert recent and recent == bodies[-len(recent):]

            older, token, pages = [], timeline.prev_batch, 0
            while token and pages < 100:
                page = ok(await bob.client.room_messages(room, start=token, limit=50), nio.RoomMessagesResponse)
                older += page.chunk
                pages += 1
                if not page.chunk:
                    break
                token = page.end
            assert older and isinstance(older[-1], nio.RoomCreateEvent), f"paging stopped at {older[-1:]}"
            back = [e.body for e in older if isinstance(e, nio.RoomMessageText)]
            assert list(reversed(back)) + recent == bodies

            # Forwards from the same prev_batch reads the sync's timeline again, in order.
            page = ok(
                await bob.client.room_messages(room, start=timeline.prev_batch, limit=len(recent), direction=nio.MessageDirection.front),
                nio.RoomMessagesResponse,
            )
            assert [e.body for e in page.chunk if isinstance(e, nio.RoomMessageText)] == recent
        finally:
            await alice.close()
            await bob.close()

    run(scenario())


def test_send_is_idempotent_per_transaction_id(server):
    async def scenario():
        alice, bob = await pair(server, "alice", "bob")
        try:
            room = ok(await alice.client.room_create(invite=[bob.user_id]), nio.RoomCreateResponse).room_id
            ok(await bob.client.join(room), nio.JoinResponse)
            first = ok(await alice.client.room_send(room, "m.room.message", text("once"), tx_id="txn-1"), nio.RoomSendResponse)
            again = ok(await alice.client.room_send(room, "m.room.message", text("once"), tx_id="txn-1"), nio.RoomSendResponse)
            assert again.event_id == first.event_id
            page = ok(await bob.client.room_messages(room, start="", limit=20), nio.RoomMessagesResponse)
            assert [e.event_id for e in page.chunk if isinstance(e, nio.RoomMessageText)] == [first.event_id]
        finally:
            await alice.close()
            await bob.close()

    run(scenario())


def test_kick_ban_unban_seen_by_the_target(server):
    async def scenario():
        alice, bob = await pair(server, "alice", "bob")
        try:
            room = ok(await alice.client.room_create(invite=[bob.user_id]), nio.RoomCreateResponse).room_id
            ok(await bob.client.join(room), nio.JoinResponse)
            bob.start_sync()
            await bob.until("own join", lambda: bob.seen(room, nio.RoomMemberEvent, state_key=bob.user_id, membership="join"))
            ok(await alice.client.room_kick(room, bob.user_id, reason="out"), nio.RoomKickResponse)
            [kick] = await bob.until("the kick", lambda: bob.seen(room, nio.RoomMemberEvent, state_key=bob.user_id, membership="leave"))
            assert kick.sender == alice.user_id and kick.content.get("reason") == "out"
            refused = await bob.client.join(room)  # kicked from an invite-only room
            assert isinstance(refused, nio.JoinError) and refused.status_code == "M_FORBIDDEN", refused

            ok(await alice.client.room_invite(room, bob.user_id), nio.RoomInviteResponse)
            ok(await bob.client.join(room), nio.JoinResponse)
            ok(await alice.client.room_ban(room, bob.user_id, reason="gone"), nio.RoomBanResponse)
            await bob.until("the ban", lambda: bob.seen(room, nio.RoomMemberEvent, state_key=bob.user_id, membership="ban"))
            invite = await alice.client.room_invite(room, bob.user_id)
            assert isinstance(invite, nio.RoomInviteError) and invite.status_code == "M_FORBIDDEN", invite
            ok(await alice.client.room_unban(room, bob.user_id), nio.RoomUnbanResponse)
            ok(await alice.client.room_invite(room, bob.user_id), nio.RoomInviteResponse)
            ok(await bob.client.join(room), nio.JoinResponse)
        finally:
            await alice.close()
            await bob.close()

    run(scenario())


def test_errors_a_client_can_tell_apart(server):
    async def scenario():
        (alice,) = await pair(server, "alice")
        client = alice.client
        try:
            stranger = nio.AsyncClient(server.base_url, alice.user_id)
            wrong = await stranger.login("not the password")
            assert isinstance(wrong, nio.LoginError) and wrong.status_code == "M_FORBIDDEN", wrong
            stranger.access_token, stranger.user_id = "not-a-token", alice.user_id
            bad = await stranger.whoami()
            assert isinstance(bad, nio.WhoamiError) and bad.status_code == "M_UNKNOWN_TOKEN", bad
            assert bad.transport_response.status == 401
            await stranger.close()

            room = ok(await client.room_create(), nio.RoomCreateResponse).room_id
            path = f"/_matrix/client/v3/rooms/{room}/send/m.room.message/malformed"
            headers = {"Authorization": f"Bearer {client.access_token}", "Content-Type": "application/json"}
            response = await client.send("PUT", path, data='{"msgtype": "m.text", "body": ', headers=headers)
            body = await response.json()
            assert (response.status, body.get("errcode")) == (400, "M_NOT_JSON"), body

            unknown = await client.room_send(f"!nowhere:{server.server_name}", "m.room.message", text("hello?"))
            assert isinstance(unknown, nio.RoomSendError), unknown
            assert unknown.status_code in ("M_FORBIDDEN", "M_NOT_FOUND"), unknown

            # Spec client-server-api "Size limits": 65536 bytes per event, as JSON.
            big = await client.room_send(room, "m.room.message", text("x" * 70_000))
            assert isinstance(big, nio.RoomSendError) and big.status_code == "M_TOO_LARGE", big
            assert big.transport_response.status == 413
            page = ok(await client.room_messages(room, start="", limit=5), nio.RoomMessagesResponse)
            assert not [e for e in page.chunk if isinstance(e, nio.RoomMessageText)]
        finally:
            await alice.close()

    run(scenario())


def test_alias_profile_power_levels_typing_and_receipts_through_sync(server):
    async def scenario():
        alice, bob = await pair(server, "alice", "bob")
        try:
            localpart = alice.user_id[1:].split(":")[0]
            alias = f"#lounge-{localpart}:{server.server_name}"
            room = ok(
                await alice.client.room_create(alias=f"lounge-{localpart}", visibility=nio.RoomVisibility.public, preset=nio.RoomPreset.public_chat),
                nio.RoomCreateResponse,
            ).room_id
            resolved = ok(await bob.client.room_resolve_alias(alias), nio.RoomResolveAliasResponse)
            assert resolved.room_id == room
            # Spec client-server-api "POST /join/{roomIdOrAlias}": the second user joins by alias.
            ok(await bob.client.join(alias), nio.JoinResponse)
            members = ok(await alice.client.joined_members(room), nio.JoinedMembersResponse)
            assert {m.user_id for m in members.members} == {alice.user_id, bob.user_id}
            alice.start_sync()
            bob.start_sync()
            await bob.until("own join", lambda: room in bob.client.rooms and bob.user_id in bob.client.rooms[room].users)

            # A display name change is a new membership event in each joined room.
            ok(await alice.client.set_displayname("Alice Liddell"), nio.ProfileSetDisplayNameResponse)
            await bob.until("alice's new name", lambda: bob.seen(room, nio.RoomMemberEvent, state_key=alice.user_id, membership="join") and bob.client.rooms[room].user_name(alice.user_id) == "Alice Liddell")

            # Power levels: bob becomes a moderator and can then set the topic.
            current = ok(await alice.client.room_get_state_event(room, "m.room.power_levels"), nio.RoomGetStateEventResponse)
            content = {**current.content, "users": {**current.content.get("users", {}), bob.user_id: 50}}
            ok(await alice.client.room_put_state(room, "m.room.power_levels", content), nio.RoomPutStateResponse)
            await bob.until("bob's power level", lambda: bob.client.rooms[room].power_levels.get_user_level(bob.user_id) == 50)
            ok(await bob.client.room_put_state(room, "m.room.topic", {"topic": "set by a moderator"}), nio.RoomPutStateResponse)
            await alice.until("the moderator's topic", lambda: alice.client.rooms[room].topic == "set by a moderator")

            # Typing and read receipts arrive in the room's ephemeral section.
            ok(await alice.client.room_typing(room, True, timeout=20_000), nio.RoomTypingResponse)
            await bob.until("alice typing", lambda: any(alice.user_id in e.users for e in bob.seen(room, nio.TypingNoticeEvent)))
            ok(await alice.client.room_typing(room, False), nio.RoomTypingResponse)
            await bob.until("alice stopped typing", lambda: bob.seen(room, nio.TypingNoticeEvent)[-1].users == [])
            sent = ok(await bob.client.room_send(room, "m.room.message", text("read me")), nio.RoomSendResponse)
            await alice.until("bob's message", lambda: alice.seen(room, nio.RoomMessageText, body="read me"))
            ok(await alice.client.update_receipt_marker(room, sent.event_id), nio.UpdateReceiptMarkerResponse)
            receipts = lambda: [  # noqa: E731
                r for e in bob.seen(room, nio.ReceiptEvent) for r in e.receipts
                if (r.user_id, r.event_id, r.receipt_type) == (alice.user_id, sent.event_id, "m.read")
            ]
            await bob.until("alice's read receipt", receipts)
        finally:
            await alice.close()
            await bob.close()

    run(scenario())
