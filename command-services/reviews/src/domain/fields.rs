//! A review's content as domain values: once parsed, a value keeps its rule.

use events::PhotoId;
use validation::{Violations, bounded_text};

/// A review's headline.
pub type Title = BoundedText<1, 120>;

/// A review's text.
pub type Body = BoundedText<1, 5000>;

/// Trimmed text whose length in characters lies in `MIN..=MAX`. The bounds are part of the
/// type, so a [`Title`] and a [`Body`] are different types and one cannot stand for the other,
/// while both share one implementation of the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundedText<const MIN: usize, const MAX: usize>(String);

impl<const MIN: usize, const MAX: usize> BoundedText<MIN, MAX> {
    /// Trims `raw` and checks its length in characters; the error is the field's message for
    /// the client.
    pub fn parse(raw: &str) -> Result<Self, String> {
        bounded_text(raw, MIN, MAX).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Takes a value from a recorded event as it is. It was parsed when the event was decided;
    /// parsing it again on replay would let a later, stricter rule break streams that were
    /// valid when written.
    pub(super) fn from_recorded(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// What a review says: written whole, and replaced whole by an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Content {
    title: Title,
    body: Body,
    /// In the author's order, which is the order readers see them in.
    photo_ids: Vec<PhotoId>,
}

/// How many photos one review may show.
pub const MAX_PHOTOS: usize = 10;

impl Content {
    /// Parses a command's content into `violations`, so that the caller can report other
    /// broken fields (a closed place) in the same answer. `unverified` are the photos that the
    /// runtime found missing from object storage or uploaded by someone else; each one is
    /// named by its index, so the client knows which to replace.
    pub(super) fn parse(
        violations: &mut Violations,
        title: &str,
        body: &str,
        photo_ids: &[PhotoId],
        unverified: &[PhotoId],
    ) -> Option<Self> {
        let title = violations.check("title", Title::parse(title));
        let body = violations.check("body", Body::parse(body));
        let photo_ids = check_photos(violations, photo_ids, unverified);
        Some(Self {
            title: title?,
            body: body?,
            photo_ids: photo_ids?,
        })
    }

    /// Title, body and photos as events carry them.
    pub(super) fn into_parts(self) -> (String, String, Vec<PhotoId>) {
        (self.title.0, self.body.0, self.photo_ids)
    }

    /// The content of a recorded event, taken as it is (see [`BoundedText::from_recorded`]).
    pub(super) fn from_recorded(title: &str, body: &str, photo_ids: &[PhotoId]) -> Self {
        Self {
            title: Title::from_recorded(title),
            body: Body::from_recorded(body),
            photo_ids: photo_ids.to_vec(),
        }
    }
}

/// At most [`MAX_PHOTOS`], each once, each verified.
fn check_photos(
    violations: &mut Violations,
    photo_ids: &[PhotoId],
    unverified: &[PhotoId],
) -> Option<Vec<PhotoId>> {
    let errors_before = violations.errors().len();
    if photo_ids.len() > MAX_PHOTOS {
        let message = format!("must hold at most {} photos", MAX_PHOTOS);
        violations.add("photo_ids", message);
    }
    for (index, photo_id) in photo_ids.iter().enumerate() {
        let field = format!("photo_ids[{index}]");
        if photo_ids[..index].contains(photo_id) {
            violations.add(field.as_str(), "is already in the list");
        }
        if unverified.contains(photo_id) {
            violations.add(field, "must be a photo you uploaded");
        }
    }
    (violations.errors().len() == errors_before).then(|| photo_ids.to_vec())
}
