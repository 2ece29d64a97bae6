use std::error::Error;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// A service's command enum, as the gateway and command dispatch see it.
///
/// `Serialize` writes the payload only: the JSON of the variant's struct, without its type,
/// which travels as [`CommandEnvelope::command_type`](crate::CommandEnvelope::command_type).
pub trait Command: Serialize + fmt::Debug + Sized {
    /// The service that handles these commands; its queue is named after it.
    const SERVICE: &'static str;
    /// The wire name of every variant, so tooling and tests can enumerate them.
    const ALL_WIRE_NAMES: &'static [&'static str];

    /// `<service>.<CommandName>`.
    fn wire_name(&self) -> &'static str;

    /// Decodes a payload whose wire name travelled beside it.
    fn decode<'de, D: Deserializer<'de>>(
        wire_name: &str,
        payload: D,
    ) -> Result<Self, CommandDecodeError<D::Error>>;
}

/// Why a received command could not be decoded.
///
/// Commands are not stored, so unlike events they have no schema version: their payloads only
/// ever change by adding optional fields.
#[derive(Debug)]
pub enum CommandDecodeError<E> {
    /// Not one of this service's commands.
    UnknownType { wire_name: String },
    /// The payload does not match the command's schema.
    Payload { wire_name: &'static str, source: E },
}

impl<E> fmt::Display for CommandDecodeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownType { wire_name } => write!(f, "unknown command type `{wire_name}`"),
            Self::Payload { wire_name, .. } => write!(f, "invalid payload for `{wire_name}`"),
        }
    }
}

impl<E: Error + 'static> Error for CommandDecodeError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Payload { source, .. } => Some(source),
            Self::UnknownType { .. } => None,
        }
    }
}

/// The body of every generated `decode` arm, kept out of the macro so it is compiled once.
pub(crate) fn decode_variant<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    wire_name: &'static str,
    payload: D,
) -> Result<T, CommandDecodeError<D::Error>> {
    T::deserialize(payload).map_err(|source| CommandDecodeError::Payload { wire_name, source })
}

/// Defines a service's command enum over its payload structs and implements [`Command`] for it.
macro_rules! define_commands {
    (
        $(#[$attr:meta])*
        pub enum $Enum:ident {
            service: $service:path,
            variants: {
                $($Variant:ident { wire_name: $wire:literal },)+
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
            }

            impl From<$Variant> for $Enum {
                fn from(command: $Variant) -> Self {
                    Self::$Variant(command)
                }
            }
        )+

        impl crate::Command for $Enum {
            const SERVICE: &'static str = $service;
            const ALL_WIRE_NAMES: &'static [&'static str] = &[$($wire),+];

            fn wire_name(&self) -> &'static str {
                match self {
                    $(Self::$Variant(_) => $Variant::WIRE_NAME,)+
                }
            }

            fn decode<'de, D: serde::Deserializer<'de>>(
                wire_name: &str,
                payload: D,
            ) -> Result<Self, crate::CommandDecodeError<D::Error>> {
                match wire_name {
                    $($wire => crate::command::decode_variant($Variant::WIRE_NAME, payload)
                        .map(Self::$Variant),)+
                    _ => Err(crate::CommandDecodeError::UnknownType {
                        wire_name: wire_name.to_owned(),
                    }),
                }
            }
        }
    };
}

pub(crate) use define_commands;
