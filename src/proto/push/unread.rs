//! Remembered unread counts per (user, room), so that a sync counts only the events that
//! arrived since the last one instead of re-evaluating everything after the read receipt.
//! Plain data: the client layer decides when an entry is still valid.

use std::collections::HashMap;

/// The counts of one user in one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UnreadEntry {
    /// The read receipt position the counts start after.
    pub read_up_to: i64,
    /// The timeline position up to which events were counted.
    pub counted_up_to: i64,
    pub notifications: i64,
    pub highlights: i64,
}

#[derive(Debug, Default)]
pub struct UnreadCounts {
    entries: HashMap<(String, i64), UnreadEntry>,
}

impl UnreadCounts {
    pub fn new() -> UnreadCounts {
        UnreadCounts::default()
    }

    /// The entry for `user_id` in the room `room_nid`, if it still starts after `read_up_to`.
    pub fn get(&self, user_id: &str, room_nid: i64, read_up_to: i64) -> Option<UnreadEntry> {
        self.entries
            .get(&(user_id.to_owned(), room_nid))
            .filter(|entry| entry.read_up_to == read_up_to)
            .copied()
    }

    pub fn set(&mut self, user_id: &str, room_nid: i64, entry: UnreadEntry) {
        self.entries.insert((user_id.to_owned(), room_nid), entry);
    }

    /// Drops every entry of a user (their push rules changed).
    pub fn forget_user(&mut self, user_id: &str) {
        self.entries.retain(|(user, _), _| user != user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_tied_to_the_read_position() {
        let mut counts = UnreadCounts::new();
        let entry = UnreadEntry {
            read_up_to: 5,
            counted_up_to: 9,
            notifications: 3,
            highlights: 1,
        };
        counts.set("@a:x", 1, entry);
        assert_eq!(counts.get("@a:x", 1, 5), Some(entry));
        assert_eq!(counts.get("@a:x", 1, 6), None);
        assert_eq!(counts.get("@a:x", 2, 5), None);
        counts.forget_user("@a:x");
        assert_eq!(counts.get("@a:x", 1, 5), None);
    }
}
