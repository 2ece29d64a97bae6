//! `gateway`: the public entry point as a process of its own.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    gateway::main().await
}
