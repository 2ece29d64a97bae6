//! The places command service. Places: adding, updating and closing places.

pub mod domain;
