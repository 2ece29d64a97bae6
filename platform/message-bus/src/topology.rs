//! Exchange and queue names, and the declarations a connection (re)makes every time it comes up.
//!
//! Everything is declared idempotently: declaring an existing exchange or queue with the same
//! arguments is a no-op, so re-declaring after every reconnect is safe and repairs anything an
//! operator (or a broker restart) removed.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};
use tracing::instrument;

const COMMANDS: &str = "waypoint.commands";
const EVENTS: &str = "waypoint.events";
const CONFIG: &str = "waypoint.config";
const DEAD_LETTERS: &str = "waypoint.dead-letters";

/// The names of Waypoint's exchanges and queues, optionally under a prefix.
///
/// Production uses [`BusNames::default`]; tests use [`BusNames::with_prefix`] with a unique prefix
/// so they never see each other's messages on a shared broker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusNames {
    prefix: Option<String>,
}

impl BusNames {
    /// Names under `prefix`: `with_prefix("t_abc").events_exchange() == "t_abc.waypoint.events"`.
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        Self {
            prefix: (!prefix.is_empty()).then_some(prefix),
        }
    }

    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// `name` under this prefix, for resources beyond Waypoint's standard ones.
    pub fn qualify(&self, name: &str) -> String {
        match &self.prefix {
            Some(prefix) => format!("{prefix}.{name}"),
            None => name.to_owned(),
        }
    }

    /// The direct exchange commands are published to, routed by service name.
    pub fn commands_exchange(&self) -> String {
        self.qualify(COMMANDS)
    }

    /// The topic exchange events are published to, routed by `<service>.<EventType>`.
    pub fn events_exchange(&self) -> String {
        self.qualify(EVENTS)
    }

    /// The fanout exchange configuration changes are broadcast on.
    pub fn config_exchange(&self) -> String {
        self.qualify(CONFIG)
    }

    /// The direct exchange failed messages go to, routed by their source.
    pub fn dead_letters_exchange(&self) -> String {
        self.qualify(DEAD_LETTERS)
    }

    /// `waypoint.commands.<service>`: the command queue of one service.
    pub fn command_queue(&self, service: &str) -> String {
        self.qualify(&format!("{COMMANDS}.{service}"))
    }

    /// `waypoint.events.<subscriber>`: the event queue of one projection or service.
    pub fn events_queue(&self, subscriber: &str) -> String {
        self.qualify(&format!("{EVENTS}.{subscriber}"))
    }

    /// `waypoint.dead-letters.<source>`: where messages that failed too often in `source` end up.
    pub fn dead_letter_queue(&self, source: &str) -> String {
        self.qualify(&format!("{DEAD_LETTERS}.{source}"))
    }

    /// `waypoint.config.<instance>`: one running instance's private copy of the config broadcast.
    pub fn config_queue(&self, instance: &str) -> String {
        self.qualify(&format!("{CONFIG}.{instance}"))
    }
}

/// How an exchange routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeType {
    Direct,
    Topic,
    Fanout,
}

impl ExchangeType {
    fn lapin(self) -> ExchangeKind {
        match self {
            Self::Direct => ExchangeKind::Direct,
            Self::Topic => ExchangeKind::Topic,
            Self::Fanout => ExchangeKind::Fanout,
        }
    }
}

/// What a queue is for, which fixes its durability and arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    /// Durable quorum queue: commands must survive a broker crash.
    Command,
    /// Durable classic queue with a single active consumer, so events are applied in order and
    /// extra replicas wait as hot standbys.
    Events,
    /// Durable quorum queue holding messages that failed too often.
    DeadLetter,
    /// Exclusive, auto-deleted queue that lives as long as this connection (config broadcasts).
    Ephemeral,
}

/// An exchange to declare (always durable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeDecl {
    pub name: String,
    pub kind: ExchangeType,
}

/// A queue to declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDecl {
    pub name: String,
    pub kind: QueueKind,
}

impl QueueDecl {
    fn options(&self) -> QueueDeclareOptions {
        let ephemeral = self.kind == QueueKind::Ephemeral;
        QueueDeclareOptions {
            durable: !ephemeral,
            exclusive: ephemeral,
            auto_delete: ephemeral,
            ..QueueDeclareOptions::default()
        }
    }

    /// The queue's arguments. They must never change for an existing queue: the broker refuses a
    /// re-declaration with different arguments.
    pub fn arguments(&self) -> FieldTable {
        let mut arguments = FieldTable::default();
        let queue_type = |t: &str| AMQPValue::LongString(LongString::from(t));
        match self.kind {
            QueueKind::Command | QueueKind::DeadLetter => {
                arguments.insert("x-queue-type".into(), queue_type("quorum"));
            }
            QueueKind::Events => {
                arguments.insert("x-queue-type".into(), queue_type("classic"));
                arguments.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
            }
            QueueKind::Ephemeral => {}
        }
        arguments
    }
}

/// A binding of a queue to an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingDecl {
    pub queue: String,
    pub exchange: String,
    pub routing_key: String,
}

/// Everything one process declares on every (re)connection.
///
/// [`Topology::new`] starts with Waypoint's four exchanges; the builder methods add the queues this
/// process consumes from, each bound the way the messaging design says.
///
/// ```
/// use message_bus::{BusNames, Topology};
/// let names = BusNames::with_prefix("t_example");
/// let topology = Topology::new(names.clone())
///     .command_queue("reviews")
///     .events_queue("review-feed", ["reviews.*", "members.*"])
///     .dead_letter_queue("review-feed");
/// assert_eq!(topology.queues().len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    names: BusNames,
    exchanges: Vec<ExchangeDecl>,
    queues: Vec<QueueDecl>,
    bindings: Vec<BindingDecl>,
}

impl Default for Topology {
    fn default() -> Self {
        Self::new(BusNames::default())
    }
}

impl Topology {
    /// Waypoint's four exchanges, no queues.
    pub fn new(names: BusNames) -> Self {
        let exchanges = vec![
            (names.commands_exchange(), ExchangeType::Direct),
            (names.events_exchange(), ExchangeType::Topic),
            (names.config_exchange(), ExchangeType::Fanout),
            (names.dead_letters_exchange(), ExchangeType::Direct),
        ]
        .into_iter()
        .map(|(name, kind)| ExchangeDecl { name, kind })
        .collect();
        Self {
            names,
            exchanges,
            queues: Vec::new(),
            bindings: Vec::new(),
        }
    }

    pub fn names(&self) -> &BusNames {
        &self.names
    }

    /// The command queue of `service`, bound to the commands exchange with key `service`.
    #[must_use]
    pub fn command_queue(self, service: &str) -> Self {
        let queue = self.names.command_queue(service);
        let exchange = self.names.commands_exchange();
        self.queue(&queue, QueueKind::Command)
            .bind(&queue, &exchange, service)
    }

    /// The events queue of `subscriber`, bound to the events exchange with each pattern
    /// (`reviews.*`, `members.NicknameChanged`, `#`).
    #[must_use]
    pub fn events_queue<'a>(
        self,
        subscriber: &str,
        patterns: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let queue = self.names.events_queue(subscriber);
        let exchange = self.names.events_exchange();
        patterns.into_iter().fold(
            self.queue(&queue, QueueKind::Events),
            |topology, pattern| topology.bind(&queue, &exchange, pattern),
        )
    }

    /// The dead-letter queue of `source`, bound to the dead-letters exchange with key `source`.
    #[must_use]
    pub fn dead_letter_queue(self, source: &str) -> Self {
        let queue = self.names.dead_letter_queue(source);
        let exchange = self.names.dead_letters_exchange();
        self.queue(&queue, QueueKind::DeadLetter)
            .bind(&queue, &exchange, source)
    }

    /// This instance's private queue on the config broadcast.
    #[must_use]
    pub fn config_queue(self, instance: &str) -> Self {
        let queue = self.names.config_queue(instance);
        let exchange = self.names.config_exchange();
        self.queue(&queue, QueueKind::Ephemeral)
            .bind(&queue, &exchange, "")
    }

    /// Any other exchange (durable).
    #[must_use]
    pub fn exchange(mut self, name: &str, kind: ExchangeType) -> Self {
        let decl = ExchangeDecl {
            name: name.to_owned(),
            kind,
        };
        if !self.exchanges.contains(&decl) {
            self.exchanges.push(decl);
        }
        self
    }

    /// Any other queue.
    #[must_use]
    pub fn queue(mut self, name: &str, kind: QueueKind) -> Self {
        let decl = QueueDecl {
            name: name.to_owned(),
            kind,
        };
        if !self.queues.contains(&decl) {
            self.queues.push(decl);
        }
        self
    }

    /// Any other binding.
    #[must_use]
    pub fn bind(mut self, queue: &str, exchange: &str, routing_key: &str) -> Self {
        let decl = BindingDecl {
            queue: queue.to_owned(),
            exchange: exchange.to_owned(),
            routing_key: routing_key.to_owned(),
        };
        if !self.bindings.contains(&decl) {
            self.bindings.push(decl);
        }
        self
    }

    pub fn exchanges(&self) -> &[ExchangeDecl] {
        &self.exchanges
    }

    pub fn queues(&self) -> &[QueueDecl] {
        &self.queues
    }

    pub fn bindings(&self) -> &[BindingDecl] {
        &self.bindings
    }

    /// Declares exchanges, then queues, then bindings (a binding needs both ends).
    #[instrument(skip_all, fields(exchanges = self.exchanges.len(), queues = self.queues.len()))]
    pub async fn declare(&self, channel: &Channel) -> Result<(), lapin::Error> {
        for exchange in &self.exchanges {
            channel
                .exchange_declare(
                    short(&exchange.name)?,
                    exchange.kind.lapin(),
                    ExchangeDeclareOptions {
                        durable: true,
                        ..ExchangeDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await?;
        }
        for queue in &self.queues {
            declare_queue(channel, queue).await?;
        }
        for binding in &self.bindings {
            channel
                .queue_bind(
                    short(&binding.queue)?,
                    short(&binding.exchange)?,
                    short(&binding.routing_key)?,
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        Ok(())
    }
}

pub(crate) async fn declare_queue(
    channel: &Channel,
    queue: &QueueDecl,
) -> Result<(), lapin::Error> {
    channel
        .queue_declare(short(&queue.name)?, queue.options(), queue.arguments())
        .await?;
    Ok(())
}

/// AMQP names are at most 255 bytes; lapin's `From<String>` would panic on a longer one.
pub(crate) fn short(value: &str) -> Result<ShortString, lapin::Error> {
    ShortString::try_new(value).map_err(|error| {
        lapin::Error::from(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("`{value}` is not a valid AMQP short string: {error}"),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_the_documented_ones() {
        let names = BusNames::default();
        assert_eq!(names.commands_exchange(), "waypoint.commands");
        assert_eq!(names.events_exchange(), "waypoint.events");
        assert_eq!(names.config_exchange(), "waypoint.config");
        assert_eq!(names.dead_letters_exchange(), "waypoint.dead-letters");
        assert_eq!(names.command_queue("reviews"), "waypoint.commands.reviews");
        assert_eq!(
            names.dead_letter_queue("review-feed"),
            "waypoint.dead-letters.review-feed"
        );
    }

    #[test]
    fn prefixed_names_put_the_prefix_first() {
        let names = BusNames::with_prefix("t_abc");
        assert_eq!(names.events_exchange(), "t_abc.waypoint.events");
        assert_eq!(
            names.command_queue("members"),
            "t_abc.waypoint.commands.members"
        );
        assert_eq!(BusNames::with_prefix(""), BusNames::default());
    }

    #[test]
    fn builder_binds_each_queue_and_ignores_duplicates() {
        let names = BusNames::with_prefix("t_x");
        let topology = Topology::new(names.clone())
            .command_queue("places")
            .command_queue("places")
            .events_queue("feed", ["places.*", "members.#"]);
        assert_eq!(topology.exchanges().len(), 4);
        assert_eq!(topology.queues().len(), 2);
        assert_eq!(topology.bindings().len(), 3);
        assert!(topology.bindings().contains(&BindingDecl {
            queue: names.events_queue("feed"),
            exchange: names.events_exchange(),
            routing_key: "members.#".to_owned(),
        }));
    }

    #[test]
    fn queue_kinds_choose_their_arguments() {
        let args = |kind| {
            QueueDecl {
                name: "q".into(),
                kind,
            }
            .arguments()
        };
        assert_eq!(
            args(QueueKind::Command).inner().get("x-queue-type"),
            Some(&AMQPValue::LongString("quorum".into()))
        );
        assert_eq!(
            args(QueueKind::Events)
                .inner()
                .get("x-single-active-consumer"),
            Some(&AMQPValue::Boolean(true))
        );
        assert!(args(QueueKind::Ephemeral).inner().is_empty());
    }
}
