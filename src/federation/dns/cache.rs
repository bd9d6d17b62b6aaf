//! The answer cache: records kept for their TTL, negative answers ("no such name", "no
//! records of that type") for the SOA's negative TTL (RFC 2308). Takes `now`; no clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::wire::{QueryType, Record};

/// Positive answers are kept at most a day, whatever their TTL says.
const MAX_TTL: Duration = Duration::from_secs(86_400);
/// Negative answers are kept at most an hour (RFC 2308 §5 suggests 1–3 hours).
const MAX_NEGATIVE_TTL: Duration = Duration::from_secs(3_600);
/// Negative answers without an SOA to say how long: a minute.
const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(60);

/// One cached answer: the answer-section records (empty for a negative answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached {
    pub records: Vec<(String, Record)>,
}

#[derive(Debug, Default)]
pub struct Cache {
    entries: HashMap<(String, QueryType), (Instant, Cached)>,
}

impl Cache {
    pub fn get(&mut self, name: &str, query_type: QueryType, now: Instant) -> Option<Cached> {
        let key = (name.to_owned(), query_type);
        match self.entries.get(&key) {
            Some((expires, cached)) if *expires > now => Some(cached.clone()),
            Some(_) => {
                self.entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Keeps a positive answer for the smallest TTL of its records (0 = not at all).
    pub fn put_records(
        &mut self,
        name: &str,
        query_type: QueryType,
        records: Vec<(String, u32, Record)>,
        now: Instant,
    ) {
        let ttl = records.iter().map(|(_, ttl, _)| *ttl).min().unwrap_or(0);
        let ttl = Duration::from_secs(u64::from(ttl)).min(MAX_TTL);
        if ttl.is_zero() {
            return;
        }
        let records = records
            .into_iter()
            .map(|(owner, _, record)| (owner, record))
            .collect();
        self.insert(name, query_type, now + ttl, Cached { records });
    }

    /// Keeps a negative answer for the SOA's negative TTL, if the server gave one.
    pub fn put_negative(
        &mut self,
        name: &str,
        query_type: QueryType,
        negative_ttl: Option<u32>,
        now: Instant,
    ) {
        let ttl = negative_ttl
            .map(|seconds| Duration::from_secs(u64::from(seconds)))
            .unwrap_or(DEFAULT_NEGATIVE_TTL)
            .min(MAX_NEGATIVE_TTL);
        if ttl.is_zero() {
            return;
        }
        let cached = Cached {
            records: Vec::new(),
        };
        self.insert(name, query_type, now + ttl, cached);
    }

    fn insert(&mut self, name: &str, query_type: QueryType, expires: Instant, cached: Cached) {
        // Bound the memory a stream of odd names can take: drop what has expired first,
        // then everything if that was not enough.
        if self.entries.len() >= 10_000 {
            let now = expires.checked_sub(MAX_TTL).unwrap_or(expires);
            self.entries.retain(|_, (until, _)| *until > now);
            if self.entries.len() >= 10_000 {
                self.entries.clear();
            }
        }
        self.entries
            .insert((name.to_owned(), query_type), (expires, cached));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_expire_with_their_smallest_ttl() {
        let mut cache = Cache::default();
        let now = Instant::now();
        let ip = Record::Ip("10.0.0.1".parse().unwrap());
        cache.put_records(
            "a.test",
            QueryType::A,
            vec![
                ("a.test".into(), 300, Record::Cname("b.test".into())),
                ("b.test".into(), 60, ip.clone()),
            ],
            now,
        );
        let hit = cache.get("a.test", QueryType::A, now + Duration::from_secs(59));
        assert_eq!(hit.unwrap().records.len(), 2);
        assert!(cache.get("a.test", QueryType::Aaaa, now).is_none());
        assert!(
            cache
                .get("a.test", QueryType::A, now + Duration::from_secs(60))
                .is_none()
        );
        // TTL 0: used once, never cached.
        cache.put_records("z.test", QueryType::A, vec![("z.test".into(), 0, ip)], now);
        assert!(cache.get("z.test", QueryType::A, now).is_none());
    }

    #[test]
    fn negative_answers_use_the_soa_ttl_capped_at_an_hour() {
        let mut cache = Cache::default();
        let now = Instant::now();
        cache.put_negative("n.test", QueryType::Srv, Some(30), now);
        let hit = cache.get("n.test", QueryType::Srv, now + Duration::from_secs(29));
        assert_eq!(hit.unwrap().records, []);
        assert!(
            cache
                .get("n.test", QueryType::Srv, now + Duration::from_secs(30))
                .is_none()
        );
        cache.put_negative("long.test", QueryType::Srv, Some(86_400), now);
        assert!(
            cache
                .get(
                    "long.test",
                    QueryType::Srv,
                    now + Duration::from_secs(3_599)
                )
                .is_some()
        );
        assert!(
            cache
                .get(
                    "long.test",
                    QueryType::Srv,
                    now + Duration::from_secs(3_600)
                )
                .is_none()
        );
        cache.put_negative("nosoa.test", QueryType::A, None, now);
        assert!(
            cache
                .get("nosoa.test", QueryType::A, now + Duration::from_secs(59))
                .is_some()
        );
        assert!(
            cache
                .get("nosoa.test", QueryType::A, now + Duration::from_secs(60))
                .is_none()
        );
    }
}
