//! Several instances on one queue: competing consumers, and a crash that loses nothing and
//! doubles nothing.

use command_testkit::{envelope, member};
use events::Actor;
use events::ratings::RatingCommand;
use futures::future::join_all;

use super::broker_stats::wait_for_unacked;
use super::held_appends::HeldAppends;
use super::support::{Fixture, rate, success, types};

#[tokio::test]
async fn two_instances_on_one_queue_share_the_work() {
    let fixture = Fixture::new().await;
    let first = fixture.start_instance().await;
    let second = fixture.start_instance().await;
    let workers = fixture.system.host_settings(&fixture.db).commands.workers;
    let place_id = fixture.open_place().await;
    let raters: Vec<Actor> = (0..40).map(|_| member()).collect();

    // With appends held back, each worker keeps the one command it took, so the broker's
    // per-connection counts show how the queue was split while it stands still.
    let held = HeldAppends::hold(&fixture.pool).await;
    let sends = join_all(
        raters
            .iter()
            .map(|rater| fixture.send(rate(place_id, 4), rater)),
    );
    let watch = async {
        let in_flight = i64::try_from(2 * workers).unwrap();
        held.wait_for_waiting(&fixture.pool, in_flight).await;
        let per_instance = u64::try_from(workers).unwrap();
        wait_for_unacked(&first.instance_id, per_instance).await;
        wait_for_unacked(&second.instance_id, per_instance).await;
        held.release().await;
    };
    let (replies, ()) = tokio::join!(sends, watch);

    for (rater, reply) in raters.iter().zip(replies) {
        assert_eq!(success(reply).version, 1);
        assert_eq!(
            types(&fixture.stored(rater, place_id).await),
            ["ratings.PlaceRated"]
        );
    }
    first.stop().await;
    second.stop().await;
    fixture.cleanup().await;
}

#[tokio::test]
async fn a_command_held_by_a_killed_instance_is_processed_once_by_another() {
    let fixture = Fixture::new().await;
    let doomed = fixture.start_instance().await;
    let place_id = fixture.open_place().await;
    let rater = member();
    let command = envelope(RatingCommand::from(rate(place_id, 4)), &rater);

    let held = HeldAppends::hold(&fixture.pool).await;
    let crash_and_take_over = async {
        // Decided, inside its append transaction, and not acked: the worst moment to die.
        held.wait_for_waiting(&fixture.pool, 1).await;
        wait_for_unacked(&doomed.instance_id, 1).await;
        doomed.kill().await;
        // The server keeps a dead client's blocked session, open transaction and all, until
        // it next writes to the client; a crashed host would lose them at once.
        let ended = held.terminate_other_lockers(&fixture.pool).await;
        assert!(
            ended >= 1,
            "the killed instance's append was not among them"
        );
        held.wait_for_waiting(&fixture.pool, 0).await;
        let successor = fixture.start_instance().await;
        held.release().await;
        successor
    };
    let (reply, successor) = tokio::join!(fixture.system.send(&command), crash_and_take_over);

    assert_eq!(success(reply).version, 1);
    let stored = fixture.stored(&rater, place_id).await;
    assert_eq!(types(&stored), ["ratings.PlaceRated"]);
    assert_eq!(stored[0].causation_id, Some(command.command_id.into()));
    successor.stop().await;
    fixture.cleanup().await;
}
