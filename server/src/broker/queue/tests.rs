//! Queue state transitions: leases, expiry, delays, dead-letter decisions, undo.

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
        created_at_ms: 0,
    }
}

use crate::broker::publish::fresh_delivery as fresh;

#[test]
fn lease_then_expiry_makes_it_ready_with_count_kept() {
    let mut q = QueueState::new(settings(None));
    q.insert(10, fresh(0), 100);
    let leased = q.lease(10, 100, 50);
    assert_eq!(leased.len(), 1);
    assert_eq!(q.stats(100).in_flight, 1);
    assert_eq!(q.check_receipt(10, 1, 120), Ok(()));
    assert_eq!(q.promote_due(149, true).0, 0);
    assert_eq!(q.promote_due(150, true).0, 1);
    assert_eq!(q.check_receipt(10, 1, 151), Err(ReceiptProblem::Expired));
    let again = q.lease(10, 200, 50);
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
    assert_eq!(bulk.lease(5, 100, 10)[0].0, 3);
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
    assert!(q.lease(1, 100, 10).is_empty());
    q.promote_due(500, true);
    assert_eq!(q.lease(1, 500, 10).len(), 1);
}

#[test]
fn max_receive_count_turns_into_a_dead_letter_move() {
    let mut q = QueueState::new(settings(Some(2)));
    q.insert(1, fresh(0), 0);
    q.lease(1, 0, 10);
    q.promote_due(10, true);
    q.lease(1, 10, 10);
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
    q.lease(1, 0, 10);
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
    let (id, leased, before) = q.lease(1, 0, 10).remove(0);
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
    let (id, leased, before) = q.lease(1, 0, 10).remove(0);
    q.promote_due(10, true);
    q.lease(1, 10, 10);
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
    let leased = q.lease(1, 0, 10);
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
