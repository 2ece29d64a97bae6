//! The ratings command service. Ratings: one star rating per member and place.

pub mod domain;
