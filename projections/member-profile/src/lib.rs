//! The member-profile read model.
