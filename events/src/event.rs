use std::error::Error;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// A service's public event enum, as generic code (relay, projections, replay) sees it.
///
/// `Serialize` writes the payload only: the JSON of the variant's struct, without its type.
pub trait Event: Serialize + fmt::Debug + Sized {
    /// The service whose event store writes these events.
    const SERVICE: &'static str;
    /// The wire name of every variant, so tooling and tests can enumerate them.
    const ALL_WIRE_NAMES: &'static [&'static str];

    /// `<service>.<EventType>`: the event store's type column and the AMQP routing key.
    fn wire_name(&self) -> &'static str;

    /// The version of this event type's payload schema. It grows only on a breaking change,
    /// which also brings an upcaster for the older versions.
    fn schema_version(&self) -> u16;

    /// The aggregate stream the event belongs to, e.g. `member-<uuid>`.
    fn stream_id(&self) -> String;

    /// Decodes a payload whose wire name and schema version travelled beside it.
    fn decode<'de, D: Deserializer<'de>>(
        wire_name: &str,
        schema_version: u16,
        payload: D,
    ) -> Result<Self, DecodeError<D::Error>>;
}

/// Why a stored or received event could not be decoded.
#[derive(Debug)]
pub enum DecodeError<E> {
    /// Not one of this enum's events, e.g. a newer producer's event or another service's.
    UnknownType { wire_name: String },
    /// A known event type in a schema version this build cannot read.
    UnsupportedSchemaVersion {
        wire_name: &'static str,
        schema_version: u16,
        supported: u16,
    },
    /// The payload does not match the event type's schema.
    Payload { wire_name: &'static str, source: E },
}

impl<E> fmt::Display for DecodeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownType { wire_name } => write!(f, "unknown event type `{wire_name}`"),
            Self::UnsupportedSchemaVersion {
                wire_name,
                schema_version,
                supported,
            } => write!(
                f,
                "unsupported schema version {schema_version} of `{wire_name}` \
                 (this build reads version {supported})"
            ),
            Self::Payload { wire_name, .. } => write!(f, "invalid payload for `{wire_name}`"),
        }
    }
}

impl<E: Error + 'static> Error for DecodeError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Payload { source, .. } => Some(source),
            Self::UnknownType { .. } | Self::UnsupportedSchemaVersion { .. } => None,
        }
    }
}

/// The body of every generated `decode` arm, kept out of the macro so it is compiled once.
pub(crate) fn decode_variant<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    wire_name: &'static str,
    supported: u16,
    schema_version: u16,
    payload: D,
) -> Result<T, DecodeError<D::Error>> {
    if schema_version != supported {
        return Err(DecodeError::UnsupportedSchemaVersion {
            wire_name,
            schema_version,
            supported,
        });
    }
    T::deserialize(payload).map_err(|source| DecodeError::Payload { wire_name, source })
}

/// Defines a service's event enum over its payload structs and implements [`Event`] for it.
///
/// `stream_id: |event| expr` computes the stream from any variant's struct (bound as `event`),
/// so every variant must carry the fields the expression uses.
macro_rules! define_events {
    (
        $(#[$attr:meta])*
        pub enum $Enum:ident {
            service: $service:path,
            stream_id: |$event:ident| $stream_id:expr,
            variants: {
                $($Variant:ident { wire_name: $wire:literal, schema_version: $version:literal },)+
            }
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
        #[serde(untagged)]
        pub enum $Enum {
            $($Variant($Variant),)+
        }

        $(
            impl $Variant {
                pub const WIRE_NAME: &'static str = $wire;
                pub const SCHEMA_VERSION: u16 = $version;
            }

            impl From<$Variant> for $Enum {
                fn from(event: $Variant) -> Self {
                    Self::$Variant(event)
                }
            }
        )+

        impl crate::Event for $Enum {
            const SERVICE: &'static str = $service;
            const ALL_WIRE_NAMES: &'static [&'static str] = &[$($wire),+];

            fn wire_name(&self) -> &'static str {
                match self {
                    $(Self::$Variant(_) => $Variant::WIRE_NAME,)+
                }
            }

            fn schema_version(&self) -> u16 {
                match self {
                    $(Self::$Variant(_) => $Variant::SCHEMA_VERSION,)+
                }
            }

            fn stream_id(&self) -> String {
                match self {
                    $(Self::$Variant($event) => $stream_id,)+
                }
            }

            fn decode<'de, D: serde::Deserializer<'de>>(
                wire_name: &str,
                schema_version: u16,
                payload: D,
            ) -> Result<Self, crate::DecodeError<D::Error>> {
                match wire_name {
                    $($wire => crate::event::decode_variant(
                        $Variant::WIRE_NAME,
                        $Variant::SCHEMA_VERSION,
                        schema_version,
                        payload,
                    )
                    .map(Self::$Variant),)+
                    _ => Err(crate::DecodeError::UnknownType {
                        wire_name: wire_name.to_owned(),
                    }),
                }
            }
        }
    };
}

pub(crate) use define_events;
