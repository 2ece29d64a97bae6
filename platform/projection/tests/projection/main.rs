//! The runner around a read model, against real PostgreSQL and RabbitMQ: catch-up from a
//! source store handing over to the queue while events keep coming, duplicates, poison and
//! messages that are not events at all, read-your-writes waits over several tokens; and
//! generations: blue/green rebuilds, switches under load, rollback and dropping old ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod generations;
mod live;
mod support;
