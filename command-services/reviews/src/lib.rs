//! The reviews command service. Reviews: writing, editing and deleting reviews of places.

pub mod domain;
