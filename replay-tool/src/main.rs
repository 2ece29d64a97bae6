//! `waypoint`: the operator's command line.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    replay_tool::main().await
}
