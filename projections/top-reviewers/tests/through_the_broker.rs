//! The key property, end to end: the model built live through the broker (relays publishing
//! four real stores at once, a fifth of the events delivered twice) equals its rebuild from
//! the stores, source after source.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use projection_testkit::{Workload, converge};
use top_reviewers::TopReviewers;

#[tokio::test]
async fn built_live_through_the_broker_it_equals_its_rebuild() {
    let workload = Workload::generate(2026, 3_000);

    let converged = converge(TopReviewers, TopReviewers, &workload).await;

    assert_eq!(converged.live, converged.rebuilt);
    assert_ne!(
        converged.live, converged.empty,
        "the workload changed the model"
    );
}
