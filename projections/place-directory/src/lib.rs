//! The place-directory read model.
