//! The nine parts of Waypoint, and how each is started inside this process exactly as its own
//! `main` would start it, so standalone mode exercises the code a deployment runs.

use std::net::SocketAddr;
use std::time::Duration;

use command_handler::host::{Host, HostError, HostOptions, HostSettings};
use message_bus::CancellationToken;
use projection::ReadModel;
use projection::host::{Host as ProjectionHost, ProjectionSettings};
use service_kit::settings::ConfigSources;
use tokio::task::JoinHandle;

/// One service of the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Members,
    Places,
    Reviews,
    Ratings,
    ReviewFeed,
    PlaceDirectory,
    MemberProfile,
    TopReviewers,
    Gateway,
}

/// What a part does, which decides its settings and when it starts and stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Commands,
    Projection,
    Gateway,
}

impl Part {
    /// The command services: they start first, since they create the stores projections read.
    pub const COMMAND_SERVICES: [Self; 4] =
        [Self::Members, Self::Places, Self::Reviews, Self::Ratings];
    pub const PROJECTIONS: [Self; 4] = [
        Self::ReviewFeed,
        Self::PlaceDirectory,
        Self::MemberProfile,
        Self::TopReviewers,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Members => "members",
            Self::Places => "places",
            Self::Reviews => "reviews",
            Self::Ratings => "ratings",
            Self::ReviewFeed => "review-feed",
            Self::PlaceDirectory => "place-directory",
            Self::MemberProfile => "member-profile",
            Self::TopReviewers => "top-reviewers",
            Self::Gateway => "gateway",
        }
    }

    pub fn role(self) -> Role {
        match self {
            Self::Members | Self::Places | Self::Reviews | Self::Ratings => Role::Commands,
            Self::ReviewFeed | Self::PlaceDirectory | Self::MemberProfile | Self::TopReviewers => {
                Role::Projection
            }
            Self::Gateway => Role::Gateway,
        }
    }

    /// The part's own embedded defaults, the lowest layer of its settings.
    pub fn default_settings(self) -> &'static str {
        match self {
            Self::Members => members::DEFAULT_SETTINGS,
            Self::Places => places::DEFAULT_SETTINGS,
            Self::Reviews => reviews::DEFAULT_SETTINGS,
            Self::Ratings => ratings::DEFAULT_SETTINGS,
            Self::ReviewFeed => review_feed::DEFAULT_SETTINGS,
            Self::PlaceDirectory => place_directory::DEFAULT_SETTINGS,
            Self::MemberProfile => member_profile::DEFAULT_SETTINGS,
            Self::TopReviewers => top_reviewers::DEFAULT_SETTINGS,
            Self::Gateway => gateway::DEFAULT_SETTINGS,
        }
    }
}

/// A part that failed to start.
#[derive(Debug, thiserror::Error)]
#[error("{part} did not start: {reason}")]
pub struct StartError {
    pub part: &'static str,
    pub reason: String,
}

/// A `map_err` for anything displayable that kept `part` from starting.
fn failed<E: std::fmt::Display>(part: Part) -> impl FnOnce(E) -> StartError {
    move |error| StartError {
        part: part.name(),
        // `#` shows an `anyhow` error's causes too.
        reason: format!("{error:#}"),
    }
}

/// A part serving in this process.
#[derive(Debug)]
pub struct RunningPart {
    pub part: Part,
    /// Where its `/health/*` and `/metrics` answer (for the gateway: the API too).
    pub http: SocketAddr,
    /// Names it in discovery and names its connections on the broker.
    pub instance_id: String,
    /// Stops this part alone.
    pub stop: CancellationToken,
    pub task: JoinHandle<()>,
}

impl RunningPart {
    /// Waits for the part to finish its in-flight work after its stop was cancelled; past
    /// `grace` it is aborted, so one part that cannot stop never holds up the others.
    pub async fn finish(self, grace: Duration) {
        let Self { part, mut task, .. } = self;
        match tokio::time::timeout(grace, &mut task).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(part = part.name(), %error, "did not stop cleanly"),
            Err(_) => {
                tracing::warn!(
                    part = part.name(),
                    grace_ms = grace.as_millis(),
                    "still stopping after its grace period: aborted"
                );
                task.abort();
            }
        }
    }
}

/// Starts `part` with the settings `sources` gives it; it serves until `stop` is cancelled. If it
/// ends by itself (an error the part could not ride out), `failed` is cancelled.
pub async fn start(
    part: Part,
    sources: &ConfigSources,
    stop: CancellationToken,
    crashed: CancellationToken,
) -> Result<RunningPart, StartError> {
    match part {
        Part::Members => {
            let host = command_host(part, members::HOST_OPTIONS, sources).await?;
            let settings: members::MembersSettings =
                service_kit::settings::load(sources).map_err(failed(part))?;
            let service = members::MembersService::new(&host, settings)
                .await
                .map_err(failed(part))?;
            serve_commands(part, host, service, stop, crashed)
        }
        Part::Places => {
            let host = command_host(part, places::HOST_OPTIONS, sources).await?;
            let service = places::PlacesService::new(&host);
            serve_commands(part, host, service, stop, crashed)
        }
        Part::Reviews => {
            let host = command_host(part, reviews::HOST_OPTIONS, sources).await?;
            let settings: reviews::ReviewsSettings =
                service_kit::settings::load(sources).map_err(failed(part))?;
            let photos = reviews::photos::connect(&settings.photos)
                .await
                .map_err(failed(part))?;
            let service = reviews::ReviewsService::new(&host, photos)
                .await
                .map_err(failed(part))?;
            serve_commands(part, host, service, stop, crashed)
        }
        Part::Ratings => {
            let host = command_host(part, ratings::HOST_OPTIONS, sources).await?;
            let service = ratings::RatingsService::new(&host);
            serve_commands(part, host, service, stop, crashed)
        }
        Part::ReviewFeed => {
            serve_projection(
                part,
                sources,
                review_feed::ReviewFeed,
                review_feed::router,
                stop,
                crashed,
            )
            .await
        }
        Part::PlaceDirectory => {
            serve_projection(
                part,
                sources,
                place_directory::PlaceDirectory,
                place_directory::router,
                stop,
                crashed,
            )
            .await
        }
        Part::MemberProfile => {
            serve_projection(
                part,
                sources,
                member_profile::MemberProfile,
                member_profile::router,
                stop,
                crashed,
            )
            .await
        }
        Part::TopReviewers => {
            serve_projection(
                part,
                sources,
                top_reviewers::TopReviewers,
                top_reviewers::router,
                stop,
                crashed,
            )
            .await
        }
        Part::Gateway => {
            let settings: gateway::GatewaySettings =
                service_kit::settings::load(sources).map_err(failed(part))?;
            let application = gateway::Application::build(settings)
                .await
                .map_err(failed(part))?;
            let http = application.address().map_err(failed(part))?;
            let instance_id = application.instance_id().to_owned();
            Ok(supervise(
                part,
                http,
                instance_id,
                stop,
                crashed,
                |stop| async move {
                    application
                        .run_until_stopped(stop)
                        .await
                        .map_err(|e| format!("{e:#}"))
                },
            ))
        }
    }
}

async fn command_host(
    part: Part,
    options: HostOptions,
    sources: &ConfigSources,
) -> Result<Host, StartError> {
    let settings: HostSettings = service_kit::settings::load(sources).map_err(failed(part))?;
    Host::start(settings, options)
        .await
        .map_err(failed::<HostError>(part))
}

fn serve_commands<S: command_handler::CommandService>(
    part: Part,
    host: Host,
    service: S,
    stop: CancellationToken,
    crashed: CancellationToken,
) -> Result<RunningPart, StartError> {
    let http = host.http_address().map_err(failed(part))?;
    let instance_id = host.instance_id().to_owned();
    Ok(supervise(
        part,
        http,
        instance_id,
        stop,
        crashed,
        |stop| async move { host.serve(service, stop).await.map_err(|e| e.to_string()) },
    ))
}

async fn serve_projection<M: ReadModel>(
    part: Part,
    sources: &ConfigSources,
    model: M,
    router: fn(projection::query::QueryContext) -> axum::Router,
    stop: CancellationToken,
    crashed: CancellationToken,
) -> Result<RunningPart, StartError> {
    let settings: ProjectionSettings =
        service_kit::settings::load(sources).map_err(failed(part))?;
    let host = ProjectionHost::start(settings, model, env!("CARGO_PKG_VERSION"))
        .await
        .map_err(failed(part))?;
    let http = host.http_address().map_err(failed(part))?;
    let instance_id = host.instance_id().to_owned();
    Ok(supervise(
        part,
        http,
        instance_id,
        stop,
        crashed,
        |stop| async move { host.serve(router, stop).await.map_err(|e| e.to_string()) },
    ))
}

/// Spawns a part's serving future on its own stop signal. An end that nobody asked for stops
/// the whole system, since a standalone Waypoint with a part missing would answer some requests
/// and silently not others.
fn supervise<F>(
    part: Part,
    http: SocketAddr,
    instance_id: String,
    stop: CancellationToken,
    crashed: CancellationToken,
    serve: impl FnOnce(CancellationToken) -> F,
) -> RunningPart
where
    F: Future<Output = Result<(), String>> + Send + 'static,
{
    let serving = serve(stop.clone());
    let asked = stop.clone();
    let task = tokio::spawn(async move {
        let outcome = serving.await;
        if asked.is_cancelled() {
            if let Err(error) = outcome {
                tracing::warn!(part = part.name(), %error, "stopped with an error");
            }
            return;
        }
        match outcome {
            Ok(()) => tracing::error!(part = part.name(), "stopped by itself"),
            Err(error) => tracing::error!(part = part.name(), %error, "stopped by itself"),
        }
        crashed.cancel();
    });
    RunningPart {
        part,
        http,
        instance_id,
        stop,
        task,
    }
}
