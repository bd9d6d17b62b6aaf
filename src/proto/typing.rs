//! Who is typing in which room: a small state machine fed with the time, no clock of its
//! own (spec: c2s "Typing Notifications"). Each change of a room's set of typers takes the
//! next serial, which sync tokens carry as their `typing` counter. Kept in memory only:
//! typing is worth nothing after a restart.

use std::collections::BTreeMap;

/// The typing state of every room.
#[derive(Debug, Default, Clone)]
pub struct Typing {
    /// The last serial handed out; 0 before any change.
    serial: i64,
    rooms: BTreeMap<String, RoomTyping>,
}

#[derive(Debug, Default, Clone)]
struct RoomTyping {
    /// The serial of the last change of `typers`.
    changed: i64,
    /// User ID → when their typing expires (ms since the epoch).
    typers: BTreeMap<String, i64>,
}

impl Typing {
    pub fn new() -> Typing {
        Typing::default()
    }

    /// Serials continue from `serial`: a server passes its start time in milliseconds, so
    /// that a token from before a restart never hides changes made after it.
    pub fn starting_at(serial: i64) -> Typing {
        Typing {
            serial,
            rooms: BTreeMap::new(),
        }
    }

    /// Records that `user_id` started (`Some(timeout_ms)`) or stopped (`None`) typing.
    /// Returns whether the set of typers changed (a refreshed timeout is no change).
    pub fn set(
        &mut self,
        room_id: &str,
        user_id: &str,
        timeout_ms: Option<i64>,
        now_ms: i64,
    ) -> bool {
        self.expire(now_ms);
        let room = self.rooms.entry(room_id.to_owned()).or_default();
        let changed = match timeout_ms {
            Some(timeout) => room
                .typers
                .insert(user_id.to_owned(), now_ms.saturating_add(timeout.max(0)))
                .is_none(),
            None => room.typers.remove(user_id).is_some(),
        };
        if changed {
            self.serial += 1;
            room.changed = self.serial;
        }
        changed
    }

    /// Drops every typer whose timeout passed. Returns whether anything changed.
    pub fn expire(&mut self, now_ms: i64) -> bool {
        let mut any = false;
        for room in self.rooms.values_mut() {
            let before = room.typers.len();
            room.typers.retain(|_, expires| *expires > now_ms);
            if room.typers.len() != before {
                self.serial += 1;
                room.changed = self.serial;
                any = true;
            }
        }
        any
    }

    /// The last serial: the `typing` counter of the next sync token.
    pub fn serial(&self) -> i64 {
        self.serial
    }

    /// When the next typer expires, if anyone is typing.
    pub fn next_expiry(&self) -> Option<i64> {
        self.rooms
            .values()
            .flat_map(|room| room.typers.values().copied())
            .min()
    }

    /// The current typers of each room whose typers changed after serial `since`
    /// (`None`: every room with someone typing, as for an initial sync).
    pub fn changes_since(&self, since: Option<i64>) -> BTreeMap<String, Vec<String>> {
        self.rooms
            .iter()
            .filter(|(_, room)| match since {
                Some(since) => room.changed > since,
                None => !room.typers.is_empty(),
            })
            .map(|(room_id, room)| (room_id.clone(), room.typers.keys().cloned().collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: &str = "!r:x";

    fn typers(typing: &Typing, since: Option<i64>) -> Option<Vec<String>> {
        typing.changes_since(since).get(ROOM).cloned()
    }

    #[test]
    fn start_refresh_stop_and_expire() {
        let mut typing = Typing::new();
        assert!(typing.set(ROOM, "@a:x", Some(1000), 0));
        assert_eq!(typing.serial(), 1);
        // A refresh moves the timeout but is no change.
        assert!(!typing.set(ROOM, "@a:x", Some(5000), 500));
        assert_eq!(typing.serial(), 1);
        assert!(typing.set(ROOM, "@b:x", Some(1000), 600));
        assert_eq!(
            typers(&typing, Some(1)),
            Some(vec!["@a:x".into(), "@b:x".into()])
        );
        assert_eq!(typers(&typing, Some(2)), None);
        assert_eq!(typing.next_expiry(), Some(1600));
        // b times out at 1600; a (refreshed to 5500) stays.
        assert!(typing.expire(1600));
        assert_eq!(typers(&typing, Some(2)), Some(vec!["@a:x".into()]));
        assert!(!typing.expire(1601));
        assert!(typing.set(ROOM, "@a:x", None, 2000));
        assert_eq!(typers(&typing, Some(3)), Some(vec![]));
        assert_eq!(typers(&typing, None), None);
        assert!(!typing.set(ROOM, "@a:x", None, 2001));
        assert_eq!(typing.next_expiry(), None);
    }

    #[test]
    fn serials_continue_from_the_start() {
        let mut typing = Typing::starting_at(1_000);
        assert_eq!(typing.serial(), 1_000);
        typing.set(ROOM, "@a:x", Some(10), 0);
        assert_eq!(typing.serial(), 1_001);
        assert_eq!(typers(&typing, Some(999)), Some(vec!["@a:x".into()]));
    }
}
