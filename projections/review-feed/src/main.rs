//! `review-feed`: the review-feed projection as a process of its own.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    projection::host::main(
        review_feed::ReviewFeed,
        env!("CARGO_PKG_VERSION"),
        include_str!("../config/default.toml"),
        review_feed::router,
    )
    .await
}
