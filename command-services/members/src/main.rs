//! `members`: the members command service as a process of its own.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    command_handler::host::main(
        members::HOST_OPTIONS,
        members::DEFAULT_SETTINGS,
        async |host, sources| {
            let settings = service_kit::settings::load(sources)?;
            members::MembersService::new(host, settings).await
        },
    )
    .await
}
