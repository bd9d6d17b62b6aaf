//! RFC 2782 target selection: SRV records ordered by priority, and within one priority
//! by a weighted random draw (spec: s2s "Resolving server names", steps 3.3 and 4 defer
//! to RFC 2782).

use crate::federation::dns::SrvRecord;

/// The records in the order to try them: lowest priority first; among equal priorities,
/// each next record drawn with probability proportional to its weight, records of weight
/// 0 having a small chance (RFC 2782, "Usage rules"). `random` yields uniform numbers.
pub fn order_srv_records(
    mut records: Vec<SrvRecord>,
    random: &mut dyn FnMut() -> u64,
) -> Vec<SrvRecord> {
    records.sort_by_key(|record| record.priority);
    let mut ordered = Vec::with_capacity(records.len());
    let mut rest = records.into_iter().peekable();
    while let Some(first) = rest.next() {
        let priority = first.priority;
        let mut group = vec![first];
        while let Some(next) = rest.next_if(|record| record.priority == priority) {
            group.push(next);
        }
        // RFC 2782: put the weight-0 records first, then draw by running sums.
        group.sort_by_key(|record| record.weight != 0);
        while !group.is_empty() {
            let total: u64 = group.iter().map(|record| u64::from(record.weight)).sum();
            let draw = random() % (total + 1);
            let mut running = 0;
            let mut chosen = group.len() - 1;
            for (index, record) in group.iter().enumerate() {
                running += u64::from(record.weight);
                if running >= draw {
                    chosen = index;
                    break;
                }
            }
            ordered.push(group.remove(chosen));
        }
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(priority: u16, weight: u16, target: &str) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port: 8448,
            target: target.to_owned(),
        }
    }

    fn targets(records: &[SrvRecord]) -> Vec<&str> {
        records.iter().map(|r| r.target.as_str()).collect()
    }

    #[test]
    fn lower_priority_always_comes_first() {
        let records = vec![
            record(20, 100, "c"),
            record(10, 0, "a"),
            record(30, 5, "d"),
            record(10, 0, "b"),
        ];
        for seed in 0..50u64 {
            let mut state = seed;
            let mut random = || {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                state >> 33
            };
            let ordered = order_srv_records(records.clone(), &mut random);
            let order = targets(&ordered);
            assert_eq!(&order[2..], ["c", "d"], "seed {seed}");
            assert!(order[..2].contains(&"a") && order[..2].contains(&"b"));
        }
    }

    #[test]
    fn weights_set_the_odds() {
        // Weight 90 against 10: the heavy target should come first about 90% of the time.
        let records = vec![record(1, 10, "light"), record(1, 90, "heavy")];
        let mut state = 12345u64;
        let mut random = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let heavy_first = (0..2000)
            .filter(|_| order_srv_records(records.clone(), &mut random)[0].target == "heavy")
            .count();
        assert!((1650..=1950).contains(&heavy_first), "{heavy_first}");
    }

    #[test]
    fn a_draw_of_zero_picks_a_zero_weight_record_first() {
        let records = vec![record(1, 50, "weighted"), record(1, 0, "zero")];
        let ordered = order_srv_records(records, &mut || 0);
        assert_eq!(targets(&ordered), ["zero", "weighted"]);
        // A draw past the zero-weight entries picks by running sum.
        let records = vec![record(1, 50, "weighted"), record(1, 0, "zero")];
        let ordered = order_srv_records(records, &mut || 1);
        assert_eq!(targets(&ordered), ["weighted", "zero"]);
    }
}
