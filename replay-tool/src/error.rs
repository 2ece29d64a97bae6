//! Failures the operator can act on: what is wrong, and what to do about it. No stack traces:
//! an unreachable database is an expected situation, not a crash.

use std::fmt;

#[derive(Debug)]
pub struct CliError {
    /// What went wrong, in one line.
    pub problem: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl CliError {
    pub fn new(problem: impl Into<String>) -> Self {
        Self {
            problem: problem.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// A database that could not be reached or queried.
    pub fn database(what: &str, error: impl fmt::Display) -> Self {
        Self::new(format!("{what}: {error}")).with_hint(
            "check that PostgreSQL is running and that WAYPOINT__POSTGRES__URL points at it",
        )
    }

    /// The broker could not be reached.
    pub fn broker(error: impl fmt::Display) -> Self {
        Self::new(format!("RabbitMQ: {error}")).with_hint(
            "check that RabbitMQ is running and that WAYPOINT__RABBITMQ__URL points at it",
        )
    }

    /// Redis could not be reached.
    pub fn redis(error: impl fmt::Display) -> Self {
        Self::new(format!("Redis: {error}"))
            .with_hint("check that Redis is running and that WAYPOINT__REDIS__URL points at it")
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.problem)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}
