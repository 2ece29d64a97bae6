//! `member-profile`: the member-profile projection as a process of its own.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    projection::host::main(
        member_profile::MemberProfile,
        env!("CARGO_PKG_VERSION"),
        member_profile::DEFAULT_SETTINGS,
        member_profile::router,
    )
    .await
}
