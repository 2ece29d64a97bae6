//! The commit-order read: pages in (transaction id, position) order, never past a transaction
//! that may still commit.

use super::support::{event, request, store, stream};
use events::Checkpoint;
use std::time::Duration;
use testkit::poll;

#[tokio::test]
async fn read_all_pages_through_every_event_in_commit_order() {
    let (_db, store) = store().await;
    for n in 0..25 {
        store
            .append(&request(&stream(), 0, vec![event(n), event(n)]))
            .await
            .unwrap();
    }

    // Transactions of other tests on the same server hold the commit horizon back for a
    // moment, so an empty page means "not yet", not "done".
    let mut seen = Vec::new();
    let mut after = Checkpoint::ORIGIN;
    let deadline = poll::Deadline::after(Duration::from_secs(10), "all 50 events");
    while seen.len() < 50 {
        let page = store.read_all(after, 7).await.unwrap();
        match page.last() {
            Some(last) => after = last.checkpoint,
            None => deadline.tick().await,
        }
        seen.extend(page.iter().map(|e| e.checkpoint));
    }

    assert_eq!(seen.len(), 50);
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "not in commit order: {seen:?}"
    );
    poll::until(
        "the head to reach the last event",
        Duration::from_secs(10),
        || async { (store.head().await.unwrap() == after).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn read_all_holds_back_later_commits_until_an_earlier_transaction_ends() {
    let (_db, store) = store().await;
    let early = request(&stream(), 0, vec![event(1)]);
    let late = request(&stream(), 0, vec![event(2)]);

    // `early` takes the lower transaction id and position, but commits last.
    let mut open = store.pool().begin().await.unwrap();
    store.append_in(&mut open, &early).await.unwrap();
    store.append(&late).await.unwrap();

    let while_open = store.read_all(Checkpoint::ORIGIN, 100).await.unwrap();
    open.commit().await.unwrap();
    let after_commit = poll::until("both events", Duration::from_secs(10), || async {
        let page = store.read_all(Checkpoint::ORIGIN, 100).await.unwrap();
        (page.len() == 2).then_some(page)
    })
    .await;

    assert!(
        while_open.is_empty(),
        "read past an open transaction: {while_open:?}"
    );
    let ids: Vec<_> = after_commit.iter().map(|e| e.event_id).collect();
    assert_eq!(ids, [early.events[0].event_id, late.events[0].event_id]);
}

#[tokio::test]
async fn commit_order_compares_transaction_ids_as_numbers() {
    let (_db, store) = store().await;
    // Transaction ids 9 and 10 are long finished on any server, so both are readable; as text,
    // "10" would sort before "9".
    for (xid, n) in [(10_i64, 1), (9, 2)] {
        sqlx::query(
            "INSERT INTO events (transaction_id, stream_id, stream_version, event_id, event_type,
                                 schema_version, payload, correlation_id)
             VALUES ($1::text::xid8, $2, 1, gen_random_uuid(), 'testing.Happened', 1,
                     jsonb_build_object('n', $3::int), gen_random_uuid())",
        )
        .bind(xid.to_string())
        .bind(stream())
        .bind(n)
        .execute(store.pool())
        .await
        .unwrap();
    }

    let read = store.read_all(Checkpoint::ORIGIN, 10).await.unwrap();
    let after_nine = store.read_all(read[0].checkpoint, 10).await.unwrap();

    let xids: Vec<u64> = read.iter().map(|e| e.checkpoint.transaction_id).collect();
    assert_eq!(xids, [9, 10]);
    assert_eq!(after_nine.len(), 1);
    assert_eq!(store.head().await.unwrap(), read[1].checkpoint);
}
