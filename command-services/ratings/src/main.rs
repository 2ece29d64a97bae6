//! `ratings`: the ratings command service as a process of its own.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    command_handler::host::main(
        ratings::HOST_OPTIONS,
        ratings::DEFAULT_SETTINGS,
        async |host, _| Ok(ratings::RatingsService::new(host)),
    )
    .await
}
