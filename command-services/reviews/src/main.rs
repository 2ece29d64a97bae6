//! `reviews`: the reviews command service as a process of its own.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    command_handler::host::main(
        reviews::HOST_OPTIONS,
        reviews::DEFAULT_SETTINGS,
        async |host, sources| {
            let settings: reviews::ReviewsSettings = service_kit::settings::load(sources)?;
            let photos = reviews::photos::connect(&settings.photos).await?;
            reviews::ReviewsService::new(host, photos).await
        },
    )
    .await
}
