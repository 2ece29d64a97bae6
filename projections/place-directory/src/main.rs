//! `place-directory`: the place-directory projection as a process of its own.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    projection::host::main(
        place_directory::PlaceDirectory,
        env!("CARGO_PKG_VERSION"),
        place_directory::DEFAULT_SETTINGS,
        place_directory::router,
    )
    .await
}
