//! The read models' answers as the OpenAPI document describes them. The gateway passes the
//! bodies on untouched; these types only describe them (the read models own the shapes).
#![allow(dead_code)] // Never built: only their OpenAPI descriptions are used.

use serde::Serialize;
use utoipa::ToSchema;

/// A place with its rating and review count.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlaceDetail {
    #[schema(format = Uuid)]
    place_id: String,
    name: String,
    category: String,
    address: String,
    description: String,
    #[schema(format = DateTime)]
    added_at: String,
    /// A closed place takes no new reviews or ratings.
    closed: bool,
    rating: PlaceRating,
    review_count: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlaceRating {
    /// Null while nobody has rated the place.
    average: Option<f64>,
    count: i32,
    /// How many members gave each number of stars.
    histogram: StarHistogram,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StarHistogram {
    #[serde(rename = "1")]
    one: i32,
    #[serde(rename = "2")]
    two: i32,
    #[serde(rename = "3")]
    three: i32,
    #[serde(rename = "4")]
    four: i32,
    #[serde(rename = "5")]
    five: i32,
}

/// One page of a search.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlacePage {
    items: Vec<PlaceSummary>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// A place as a search lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlaceSummary {
    #[schema(format = Uuid)]
    place_id: String,
    name: String,
    category: String,
    address: String,
    closed: bool,
    /// Null while nobody has rated the place.
    average_stars: Option<f64>,
    rating_count: i32,
    review_count: i32,
    #[schema(format = DateTime)]
    added_at: String,
}

/// A review with its place, its author and the author's current stars for the place.
#[derive(Debug, Serialize, ToSchema)]
pub struct Review {
    #[schema(format = Uuid)]
    review_id: String,
    place: ReviewPlace,
    author: ReviewAuthor,
    title: String,
    body: String,
    /// Where the gateway serves each photo.
    photo_urls: Vec<String>,
    /// The author's current rating of the place; null when unknown or removed.
    stars: Option<u8>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    edited_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewPlace {
    #[schema(format = Uuid)]
    place_id: String,
    /// Null while the read model has not heard of the place yet.
    name: Option<String>,
}

/// A deactivated author shows as a deleted member: `deleted` true, nickname and avatar null.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewAuthor {
    #[schema(format = Uuid)]
    member_id: String,
    nickname: Option<String>,
    avatar_url: Option<String>,
    deleted: bool,
}

/// One page of reviews.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewPage {
    items: Vec<Review>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// A member's public profile. A deactivated member shows as a deleted member: `deactivated`
/// true, nickname and avatar null; the joined time and the counts stay.
#[derive(Debug, Serialize, ToSchema)]
pub struct Profile {
    #[schema(format = Uuid)]
    member_id: String,
    nickname: Option<String>,
    /// Where the gateway serves the avatar; null until one is set.
    avatar_url: Option<String>,
    #[schema(format = DateTime)]
    joined_at: String,
    /// Live reviews: written and not deleted.
    review_count: i64,
    /// Places the member currently rates.
    rating_count: i64,
    /// The mean of those ratings' stars; null when there are none.
    average_stars_given: Option<f64>,
    deactivated: bool,
}

/// The top of the ranking of reviewers.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopReviewers {
    items: Vec<TopReviewer>,
}

/// One ranked member. A deactivated member shows as a deleted member: `deactivated` true,
/// nickname null; the counts stay.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopReviewer {
    /// The position in the ranking, from 1.
    rank: u32,
    #[schema(format = Uuid)]
    member_id: String,
    /// Null for a deleted member, and while the read model has not heard of the member yet.
    nickname: Option<String>,
    deactivated: bool,
    /// Live reviews: written and not deleted.
    review_count: i64,
    /// The mean of the stars the member's reviews received (each the member's own rating of
    /// the place); null when none of them has stars.
    average_stars: Option<f64>,
}
