//! The review-feed read model.
