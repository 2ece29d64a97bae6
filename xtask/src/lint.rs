//! `cargo xtask lint`: formatting first (fast, and its diff is the clearest failure), then
//! clippy, then the deployment files (`cargo xtask deploy-check`).

use std::path::Path;

use anyhow::Result;

use crate::cmd::Cmd;

pub fn run(root: &Path) -> Result<()> {
    Cmd::cargo()
        .args(["fmt", "--all", "--", "--check"])
        .current_dir(root)
        .run()?;
    Cmd::cargo()
        .args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])
        .current_dir(root)
        .run()?;
    crate::deploy_check::run(root)
}
