//! The event log: one JSON line per connection, written when its handshake settles (or the
//! connection closes, expires or the input ends).
//!
//! Two parts: [`ecs`] is the schema — a settled connection as one Elastic Common Schema line,
//! pure serialisation; [`writer`] is the delivery — per-worker buffers, a bounded queue to one
//! writer thread, lossless or lossy (counted). [`community_id`] computes each event's
//! `network.community_id`.

pub mod community_id;
pub mod ecs;
pub mod writer;

pub use ecs::{CIPHER_LIST_CACHE, DATASET, event_line};
pub use writer::{
    Delivery, Dest, EventLog, EventSink, EventStats, EventsError, FLUSH_AT, QUEUE_DEPTH,
};
