//! `places`: the places command service as a process of its own.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    command_handler::host::main(
        places::HOST_OPTIONS,
        places::DEFAULT_SETTINGS,
        async |host, _| Ok(places::PlacesService::new(host)),
    )
    .await
}
