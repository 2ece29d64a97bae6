//! A place's text fields as domain values: once parsed, a value keeps its rule.

use events::places::Category;
use validation::bounded_text;

/// Defines a trimmed, length-bounded text newtype. One macro rather than three hand-written
/// copies, so that the three fields cannot drift apart in how they parse.
macro_rules! bounded_text_field {
    ($(#[$attr:meta])* $Name:ident, $min:literal..=$max:literal) => {
        $(#[$attr])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $Name(String);

        impl $Name {
            pub const MIN_CHARS: usize = $min;
            pub const MAX_CHARS: usize = $max;

            /// Trims `raw` and checks its length in characters; the error is the field's
            /// message for the client.
            pub fn parse(raw: &str) -> Result<Self, String> {
                bounded_text(raw, $min, $max).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }

            /// Takes a value from a recorded event as it is. It was parsed when the event was
            /// decided; parsing it again on replay would let a later, stricter rule break
            /// streams that were valid when written.
            pub(super) fn from_recorded(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

bounded_text_field!(
    /// What the place is called.
    PlaceName,
    1..=100
);

bounded_text_field!(
    /// Where the place is, as free text: addresses differ too much between countries to
    /// structure them.
    Address,
    1..=200
);

bounded_text_field!(
    /// Optional free text about the place; an empty description is allowed.
    Description,
    0..=2000
);

/// Parses a category name exactly as [`Category::from_str`](std::str::FromStr) does, with a
/// message that lists the allowed names so the client can correct itself.
pub fn parse_category(raw: &str) -> Result<Category, String> {
    raw.parse().map_err(|_| {
        let allowed: Vec<&str> = Category::ALL
            .iter()
            .map(|category| category.as_str())
            .collect();
        format!("must be one of: {}", allowed.join(", "))
    })
}
