//! `top-reviewers`: the top-reviewers projection as a process of its own.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    projection::host::main(
        top_reviewers::TopReviewers,
        env!("CARGO_PKG_VERSION"),
        include_str!("../config/default.toml"),
        top_reviewers::router,
    )
    .await
}
