//! `review-feed`: the review-feed projection as a process of its own.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    projection::host::main(
        review_feed::ReviewFeed,
        env!("CARGO_PKG_VERSION"),
        review_feed::DEFAULT_SETTINGS,
        review_feed::router,
    )
    .await
}
