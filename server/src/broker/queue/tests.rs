//! Queue state transitions: leases, expiry, delays, dead-letter decisions, undo.

use switchyard_client::RetrySchedule;

use super::*;

fn settings(max: Option<u32>) -> QueueRecord {
    QueueRecord {
        id: 1,
        name: "q".into(),
        visibility_timeout_ms: 1000,
        max_receive_count: max,
        dead_letter_queue: max.map(|_| "dlq".into()),
        delay_ms: 0,
        retention_ms: u64::MAX,
        ordering: QueueOrdering::None,
        retry: None,
        fairness: None,
        monitor_thresholds_ms: None,
        created_at_ms: 0,
    }
}

fn fresh(visible_at_ms: u64) -> DeliveryRecord {
    DeliveryRecord {
        visible_at_ms,
        ..DeliveryRecord::default()
    }
}

#[test]
fn lease_then_expiry_makes_it_ready_with_count_kept() {
    let mut q = QueueState::new(settings(None));
    q.insert(10, fresh(0), 100);
    let leased = q.lease(10, u64::MAX, 100, 50);
    assert_eq!(leased.len(), 1);
    assert_eq!(q.stats(100).in_flight, 1);
    assert_eq!(q.check_receipt(10, 1, 120), Ok(()));
    assert_eq!(q.promote_due(149, true).0, 0);
    assert_eq!(q.promote_due(150, true).0, 1);
    assert_eq!(q.check_receipt(10, 1, 151), Err(ReceiptProblem::Expired));
    let again = q.lease(10, u64::MAX, 200, 50);
    assert_eq!(again[0].1.receive_count, 2);
}

#[test]
fn bulk_load_matches_one_by_one_inserts() {
    let leased = DeliveryRecord {
        visible_at_ms: 500,
        receive_count: 1,
        leases: 1,
        leased: true,
        first_received_at_ms: Some(1),
        dead_letter: None,
        enqueued_at_ms: None,
        key_hash: None,
        group_hash: None,
        size: 0,
    };
    let copies = vec![(3, fresh(0)), (1, fresh(900)), (2, leased)];
    let mut bulk = QueueState::new(settings(None));
    bulk.load(copies.clone(), 100);
    let mut single = QueueState::new(settings(None));
    for (id, record) in copies {
        single.insert(id, record, 100);
    }
    assert_eq!(bulk.stats(100), single.stats(100));
    assert_eq!(bulk.stats(100).in_flight, 1);
    assert_eq!(bulk.lease(5, u64::MAX, 100, 10)[0].0, 3);
    assert_eq!(
        bulk.promote_due(900, true).0,
        3,
        "the new lease, the old lease, the delay"
    );
}

#[test]
fn delayed_messages_wait_for_their_time() {
    let mut q = QueueState::new(settings(None));
    q.insert(1, fresh(500), 100);
    assert_eq!(q.stats(100).delayed, 1);
    assert!(q.lease(1, u64::MAX, 100, 10).is_empty());
    q.promote_due(500, true);
    assert_eq!(q.lease(1, u64::MAX, 500, 10).len(), 1);
}

#[test]
fn max_receive_count_turns_into_a_dead_letter_move() {
    let mut q = QueueState::new(settings(Some(2)));
    q.insert(1, fresh(0), 0);
    q.lease(1, u64::MAX, 0, 10);
    q.promote_due(10, true);
    q.lease(1, u64::MAX, 10, 10);
    let (ready, moves) = q.promote_due(20, true);
    assert_eq!(ready, 0);
    assert_eq!(moves.len(), 1);
    assert!(
        moves[0].reason.contains("max_receive_count 2"),
        "{}",
        moves[0].reason
    );
    assert_eq!(
        q.stats(20),
        QueueStats {
            oldest_age_ms: None,
            ..QueueStats::default()
        }
    );
}

#[test]
fn nack_releases_and_extend_keeps_the_lease() {
    let mut q = QueueState::new(settings(None));
    q.insert(1, fresh(0), 0);
    q.lease(1, u64::MAX, 0, 10);
    q.reschedule(1, 100, false).unwrap();
    assert_eq!(q.check_receipt(1, 1, 50), Ok(()));
    q.reschedule(1, 60, true).unwrap();
    assert_eq!(q.check_receipt(1, 1, 55), Err(ReceiptProblem::Expired));
    assert_eq!(q.stats(55).delayed, 1);
    assert_eq!(q.promote_due(60, true).0, 1);
}

#[test]
fn a_failed_lease_is_reverted_to_ready() {
    let mut q = QueueState::new(settings(None));
    q.insert(1, fresh(0), 0);
    let (id, leased, before) = q.lease(1, u64::MAX, 0, 10).remove(0);
    q.revert(id, &leased, &before, 1, 0);
    assert_eq!(q.stats(0).ready, 1);
    assert_eq!(
        q.get(1).unwrap().leases,
        0,
        "the lease number goes back too"
    );
}

#[test]
fn a_revert_leaves_a_copy_changed_since_alone() {
    let mut q = QueueState::new(settings(None));
    q.insert(1, fresh(0), 0);
    let (id, leased, before) = q.lease(1, u64::MAX, 0, 10).remove(0);
    q.promote_due(10, true);
    q.lease(1, u64::MAX, 10, 10);
    q.revert(id, &leased, &before, 1, 10);
    assert_eq!(q.stats(10).in_flight, 1, "the second lease stands");
}

#[test]
fn copies_of_writes_before_a_purge_are_not_restored() {
    let mut q = QueueState::new(settings(None));
    q.insert(1, fresh(0), 0);
    let removed = q.clear();
    let before = q.mark_purged(7);
    assert!(q.purged_after(6) && !q.purged_after(7));
    q.restore(1, &removed[&1], 6, 0);
    assert_eq!(q.stats(0).ready, 0, "the purge deleted it on disk");
    q.unmark_purged(7, before);
    q.restore(1, &removed[&1], 7, 0);
    assert_eq!(q.stats(0).ready, 1, "a failed purge gives its copies back");
}

#[test]
fn counters_saturate_instead_of_overflowing() {
    let mut q = QueueState::new(settings(None));
    let worn = DeliveryRecord {
        receive_count: u32::MAX,
        leases: u32::MAX,
        ..fresh(0)
    };
    q.insert(1, worn, 0);
    q.promote_due(0, true);
    let leased = q.lease(1, u64::MAX, 0, 10);
    assert_eq!(leased[0].1.receive_count, u32::MAX);
    assert_eq!(leased[0].1.leases, u32::MAX);
}

#[test]
fn a_late_copy_expires_by_when_it_entered_the_queue() {
    let mut q = QueueState::new(QueueRecord {
        retention_ms: 1000,
        ..settings(None)
    });
    let at = |ms: u64, n: u128| (u128::from(ms) << 80) | n;
    // Published at 0 and replayed at 10 000; published at 10 000 and enqueued then.
    let replayed = at(0, 1);
    let fresh_one = at(10_000, 2);
    q.insert(
        replayed,
        DeliveryRecord {
            enqueued_at_ms: super::enqueued_at(replayed, 10_000),
            ..fresh(0)
        },
        10_000,
    );
    q.insert(fresh_one, fresh(0), 10_000);
    assert!(
        q.take_expired(10_500, 10).0.is_empty(),
        "both are young here"
    );
    let expired: Vec<MessageId> = q
        .take_expired(11_001, 10)
        .0
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(expired, [replayed, fresh_one]);
    assert_eq!(q.stats(11_001).ready, 0);
}

#[test]
fn the_retention_sweep_takes_at_most_its_limit_and_goes_on_where_it_stopped() {
    let mut q = QueueState::new(QueueRecord {
        retention_ms: 1000,
        ..settings(None)
    });
    for n in 1..=5u128 {
        q.insert(n, fresh(0), 0);
    }
    let taken = |q: &mut QueueState, limit| -> Vec<MessageId> {
        q.take_expired(5_000, limit)
            .0
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    };
    assert_eq!(taken(&mut q, 2), [1, 2]);
    assert_eq!(taken(&mut q, 2), [3, 4]);
    // A copy put back below where the sweep stopped (its removal failed) is found again.
    q.insert(1, fresh(0), 0);
    assert_eq!(taken(&mut q, 10), [1, 5]);
    assert!(taken(&mut q, 10).is_empty());
}

#[test]
fn copies_that_stay_cost_a_sweep_no_more_than_its_limit_and_it_goes_on_past_them() {
    let mut q = QueueState::new(QueueRecord {
        retention_ms: 1000,
        ..settings(None)
    });
    // Five old messages replayed just now, then one published long ago.
    for n in 1..=5u128 {
        let record = DeliveryRecord {
            enqueued_at_ms: Some(5_000),
            ..fresh(0)
        };
        q.insert(n, record, 5_000);
    }
    q.insert(6, fresh(0), 5_000);
    let (taken, more) = q.take_expired(5_500, 2);
    assert!(taken.is_empty() && more, "two looked at, both stay");
    let (taken, more) = q.take_expired(5_500, 2);
    assert!(taken.is_empty() && more);
    let (taken, more) = q.take_expired(5_500, 2);
    assert_eq!((taken.len(), taken[0].0), (1, 6));
    assert!(more, "two looked at: more may follow");
    let (taken, more) = q.take_expired(5_500, 2);
    assert!(taken.is_empty() && !more, "the sweep is through");
}

fn ordered() -> QueueRecord {
    QueueRecord {
        ordering: QueueOrdering::PerKey,
        ..settings(None)
    }
}

fn keyed(visible_at_ms: u64, key: &str) -> DeliveryRecord {
    DeliveryRecord {
        visible_at_ms,
        key_hash: super::key_hash(Some(key)),
        ..DeliveryRecord::default()
    }
}

fn leased_ids(q: &mut QueueState, now: u64) -> Vec<MessageId> {
    q.lease(100, u64::MAX, now, 1000)
        .into_iter()
        .map(|(id, ..)| id)
        .collect()
}

#[test]
fn one_message_of_a_key_at_a_time_in_publish_order() {
    let mut q = QueueState::new(ordered());
    for (id, key) in [(1, "a"), (2, "a"), (3, "b"), (4, "a"), (5, "b")] {
        q.insert(id, keyed(0, key), 0);
    }
    q.insert(6, fresh(0), 0);
    assert_eq!(q.stats(0).behind_key, 3);
    assert_eq!(q.get(2).unwrap().state(), DeliveryState::BehindKey);
    assert_eq!(
        leased_ids(&mut q, 0),
        [1, 3, 6],
        "one per key, keyless ones freely"
    );
    assert!(leased_ids(&mut q, 0).is_empty());
    q.remove(1);
    assert!(q.freed_any());
    assert_eq!(leased_ids(&mut q, 0), [2]);
    q.remove(3);
    q.remove(2);
    assert_eq!(leased_ids(&mut q, 0), [4, 5]);
    assert_eq!(q.stats(0).behind_key, 0);
}

#[test]
fn a_failing_message_holds_back_only_its_own_key() {
    let mut q = QueueState::new(QueueRecord {
        ordering: QueueOrdering::PerKey,
        ..settings(Some(2))
    });
    for (id, key) in [(1, "a"), (2, "a"), (3, "b"), (4, "b")] {
        q.insert(id, keyed(0, key), 0);
    }
    assert_eq!(leased_ids(&mut q, 0), [1, 3]);
    q.reschedule(1, 50, true).unwrap();
    q.remove(3);
    assert_eq!(leased_ids(&mut q, 0), [4], "key b goes on while a waits");
    q.promote_due(50, true);
    assert_eq!(
        leased_ids(&mut q, 50),
        [1],
        "a's first message again, not its second"
    );
    let (_, moves) = q.promote_due(2000, true);
    assert_eq!(moves.iter().map(|m| m.id).collect::<Vec<_>>(), [1]);
    assert_eq!(
        leased_ids(&mut q, 2000),
        [2, 4],
        "a dead-lettered: the next of its key goes"
    );
}

#[test]
fn a_delayed_next_message_waits_for_its_time_after_the_one_before() {
    let mut q = QueueState::new(ordered());
    q.insert(1, keyed(0, "a"), 0);
    q.insert(2, keyed(500, "a"), 0);
    assert_eq!(leased_ids(&mut q, 0), [1]);
    q.remove(1);
    assert!(leased_ids(&mut q, 100).is_empty());
    q.promote_due(500, true);
    assert_eq!(leased_ids(&mut q, 500), [2]);
}

#[test]
fn ordering_turned_on_keeps_what_is_in_flight_and_holds_the_rest() {
    let mut q = QueueState::new(settings(None));
    for id in 1..=4 {
        q.insert(id, keyed(0, "a"), 0);
    }
    assert_eq!(leased_ids(&mut q, 0).len(), 4);
    q.remove(4);
    q.reschedule(3, 0, true).unwrap();
    q.promote_due(0, true);
    q.settings.ordering = QueueOrdering::PerKey;
    q.rebuild_lanes(0);
    assert_eq!(q.stats(0).in_flight, 2, "leases stand");
    assert_eq!(q.stats(0).behind_key, 1, "the nacked one waits");
    q.remove(1);
    assert!(leased_ids(&mut q, 0).is_empty(), "2 is still in flight");
    q.remove(2);
    q.promote_due(0, true);
    assert_eq!(leased_ids(&mut q, 0), [3]);
    q.settings.ordering = QueueOrdering::None;
    q.insert(5, keyed(0, "a"), 0);
    q.insert(6, keyed(0, "a"), 0);
    q.rebuild_lanes(0);
    assert_eq!(
        leased_ids(&mut q, 0),
        [5, 6],
        "without ordering nothing waits"
    );
}

#[test]
fn a_load_lays_out_lanes_as_inserts_do() {
    let leased = DeliveryRecord {
        visible_at_ms: 500,
        receive_count: 1,
        leases: 1,
        leased: true,
        ..keyed(0, "a")
    };
    let copies = vec![(2, keyed(0, "a")), (1, leased), (3, keyed(0, "b"))];
    let mut q = QueueState::new(ordered());
    q.load(copies, 100);
    assert_eq!(q.stats(100).behind_key, 1);
    assert_eq!(leased_ids(&mut q, 100), [3]);
    q.remove(1);
    assert_eq!(leased_ids(&mut q, 100), [2]);
}

#[test]
fn a_copy_put_back_ahead_of_an_untouched_one_takes_its_place() {
    let mut q = QueueState::new(ordered());
    q.insert(1, keyed(0, "a"), 0);
    q.insert(2, keyed(0, "a"), 0);
    let (id, leased, before) = q.lease(1, u64::MAX, 0, 10).remove(0);
    let removed = q.remove(id).unwrap();
    assert_eq!(q.get(2).unwrap().state(), DeliveryState::Ready);
    q.restore(1, &removed, 1, 0);
    assert_eq!(q.get(2).unwrap().state(), DeliveryState::BehindKey);
    assert!(q.is_unchanged(1, &leased));
    q.revert(1, &leased, &before, 1, 0);
    assert_eq!(
        leased_ids(&mut q, 0),
        [1],
        "a reverted lease keeps its place"
    );
}

fn with_retry(schedule: RetrySchedule) -> QueueRecord {
    QueueRecord {
        retry: Some(schedule),
        ..settings(None)
    }
}

#[test]
fn an_expired_lease_waits_out_the_schedule_from_its_end() {
    let mut q = QueueState::new(with_retry(RetrySchedule {
        backoff_ms: Some(vec![100, 1000]),
        ..Default::default()
    }));
    q.insert(1, fresh(0), 0);
    q.lease(1, u64::MAX, 0, 10);
    assert_eq!(q.promote_due(10, true).0, 0, "the lease ended at 10");
    assert_eq!(q.stats(50).delayed, 1);
    assert_eq!(q.promote_due(109, true).0, 0);
    assert_eq!(q.promote_due(110, true).0, 1, "10 + the first step");
    q.lease(1, u64::MAX, 110, 10);
    assert_eq!(q.promote_due(1119, true).0, 0);
    assert_eq!(q.promote_due(1120, true).0, 1, "120 + the second step");
    q.lease(1, u64::MAX, 1120, 10);
    assert_eq!(q.retry_at(1, 2000), 3000, "the last step repeats");
}

#[test]
fn jitter_is_drawn_once_per_failure() {
    let q = QueueState::new(with_retry(RetrySchedule {
        backoff_ms: Some(vec![10_000]),
        jitter: Some(0.5),
        ..Default::default()
    }));
    let delays: Vec<u64> = (0..200)
        .map(|id| retry_delay(&q.settings, id << 80, 1))
        .collect();
    assert!(delays.iter().all(|d| (5000..=10_000).contains(d)));
    assert!(delays.iter().min() < Some(&6000) && delays.iter().max() > Some(&9000));
    assert_eq!(retry_delay(&q.settings, 7 << 80, 1), delays[7]);
}

fn fair(by: &str, weights: &[(&str, u32)]) -> QueueRecord {
    QueueRecord {
        fairness: Some(switchyard_client::Fairness {
            by: by.into(),
            weights: weights.iter().map(|(g, w)| (g.to_string(), *w)).collect(),
            default_weight: 1,
        }),
        ..settings(None)
    }
}

/// The keys of the copies `lease` hands out, by the ids `keys_of` gave them.
fn served(q: &mut QueueState, max: usize, keys_of: &BTreeMap<MessageId, &'static str>) -> String {
    q.lease(max, u64::MAX, 0, 1000)
        .into_iter()
        .map(|(id, ..)| keys_of[&id])
        .collect()
}

/// `count` copies of key `key` from id `from` on; records their keys.
fn flood(
    q: &mut QueueState,
    keys_of: &mut BTreeMap<MessageId, &'static str>,
    from: MessageId,
    count: u128,
    key: &'static str,
) {
    for id in from..from + count {
        q.insert(id, keyed(0, key), 0);
        keys_of.insert(id, key);
    }
}

#[test]
fn fairness_takes_turns_between_groups_whatever_their_backlog() {
    let mut q = QueueState::new(fair("key", &[]));
    let mut keys = BTreeMap::new();
    flood(&mut q, &mut keys, 1, 1000, "a");
    flood(&mut q, &mut keys, 2000, 3, "b");
    assert_eq!(served(&mut q, 8, &keys), "ababab".to_string() + "aa");
    let mut plain = QueueState::new(settings(None));
    let mut keys = BTreeMap::new();
    flood(&mut plain, &mut keys, 1, 1000, "a");
    flood(&mut plain, &mut keys, 2000, 3, "b");
    assert_eq!(
        served(&mut plain, 8, &keys),
        "aaaaaaaa",
        "without it: oldest first"
    );
}

#[test]
fn weights_set_the_shares() {
    let mut q = QueueState::new(fair("key", &[("a", 3)]));
    let mut keys = BTreeMap::new();
    flood(&mut q, &mut keys, 1, 100, "a");
    flood(&mut q, &mut keys, 200, 100, "b");
    flood(&mut q, &mut keys, 400, 100, "c");
    let order = served(&mut q, 50, &keys);
    assert!(order.starts_with("aaabcaaabc"), "{order}");
    let count = |k: char| order.chars().filter(|c| *c == k).count();
    assert_eq!((count('a'), count('b'), count('c')), (30, 10, 10));
}

#[test]
fn a_group_that_comes_back_joins_the_ring_and_nacked_copies_keep_their_group() {
    let mut q = QueueState::new(fair("key", &[]));
    let mut keys = BTreeMap::new();
    flood(&mut q, &mut keys, 1, 10, "a");
    flood(&mut q, &mut keys, 100, 1, "b");
    assert_eq!(served(&mut q, 3, &keys), "aba");
    q.reschedule(100, 0, true).unwrap();
    q.promote_due(0, true);
    assert_eq!(
        served(&mut q, 3, &keys),
        "aba",
        "b is back in the ring, after a"
    );
    flood(&mut q, &mut keys, 200, 2, "c");
    assert_eq!(served(&mut q, 4, &keys), "acac");
}

#[test]
fn fairness_by_attribute_reads_the_copies_group_and_can_be_changed_in_place() {
    let mut q = QueueState::new(fair("attribute:tenant", &[]));
    let mut keys = BTreeMap::new();
    for (from, tenant) in [(1, "big"), (1000, "small")] {
        for id in from..from + 20 {
            let record = DeliveryRecord {
                group_hash: key_hash(Some(tenant)),
                ..fresh(0)
            };
            q.insert(id, record, 0);
            keys.insert(id, if tenant == "big" { "B" } else { "s" });
        }
    }
    assert_eq!(served(&mut q, 4, &keys), "BsBs");
    q.settings.fairness = None;
    q.rebuild_fairness();
    assert_eq!(served(&mut q, 4, &keys), "BBBB", "oldest first again");
    q.settings = fair("attribute:tenant", &[("small", 2)]);
    q.rebuild_fairness();
    let order = served(&mut q, 6, &keys);
    assert_eq!(order.matches('s').count(), 4, "{order}");
}

#[test]
fn a_fair_queue_loads_and_clears_like_any_other() {
    let copies: Vec<_> = (1..=6)
        .map(|id| (id, keyed(0, if id <= 4 { "a" } else { "b" })))
        .collect();
    let mut q = QueueState::new(fair("key", &[]));
    q.load(copies, 0);
    let keys: BTreeMap<MessageId, &str> = (1..=6)
        .map(|id| (id, if id <= 4 { "a" } else { "b" }))
        .collect();
    assert_eq!(served(&mut q, 4, &keys), "abab");
    q.clear();
    assert!(q.lease(10, u64::MAX, 0, 1000).is_empty());
    q.insert(9, keyed(0, "z"), 0);
    assert_eq!(q.lease(10, u64::MAX, 0, 1000).len(), 1);
}

fn sized(visible_at_ms: u64, size: u32) -> DeliveryRecord {
    DeliveryRecord {
        size,
        ..fresh(visible_at_ms)
    }
}

#[test]
fn ready_bytes_follow_every_change_and_a_lease_stays_within_its_bytes() {
    let mut q = QueueState::new(settings(None));
    q.insert(1, sized(0, 300), 100);
    q.insert(2, sized(0, 300), 100);
    q.insert(3, sized(0, 300), 100);
    q.insert(4, sized(500, 50), 100);
    let view = q.batch_view();
    assert_eq!((view.ready, view.ready_bytes), (3, 900));
    assert_eq!(view.next_due_ms, Some(500));
    // 700 bytes take two of the 300-byte copies; the third stays ready, in its place.
    let leased = q.lease(10, 700, 100, 1000);
    assert_eq!(leased.iter().map(|l| l.0).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(q.batch_view().ready_bytes, 300);
    // One copy always goes, however large.
    assert_eq!(q.lease(10, 10, 100, 1000).len(), 1);
    assert_eq!(q.batch_view().ready_bytes, 0);
    q.promote_due(500, true);
    assert_eq!(q.batch_view().ready_bytes, 50);
    q.remove(4);
    q.promote_due(1100, true);
    let view = q.batch_view();
    assert_eq!((view.ready, view.ready_bytes), (3, 900), "expired leases");
    q.clear();
    assert_eq!(q.batch_view().ready_bytes, 0);
}

#[test]
fn a_batch_waits_from_its_first_copy_s_time_a_redelivery_does_not_wait_again() {
    let mut q = QueueState::new(settings(None));
    let at = |ms: u64| u128::from(ms) << 80;
    // Published at 1000, delayed to 5000: it waits from 5000.
    q.insert(at(1000), fresh(5000), 1000);
    q.promote_due(5000, true);
    assert_eq!(q.batch_view().waiting_since_ms, Some(5000));
    let (id, _, _) = q.lease(1, u64::MAX, 6000, 100).remove(0);
    q.reschedule(id, 7000, true);
    q.promote_due(7000, true);
    assert_eq!(q.batch_view().waiting_since_ms, Some(1000), "a redelivery");
}
