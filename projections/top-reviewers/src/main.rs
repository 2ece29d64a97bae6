//! `top-reviewers`: the top-reviewers projection as a process of its own.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    projection::host::main(
        top_reviewers::TopReviewers,
        env!("CARGO_PKG_VERSION"),
        top_reviewers::DEFAULT_SETTINGS,
        top_reviewers::router,
    )
    .await
}
