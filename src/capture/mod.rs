//! Packet sources: savefiles (always) and live interfaces (cargo feature `live`).

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod file;

use crate::wire::LinkType;
use std::path::PathBuf;

/// One captured packet, borrowed from the source's buffer.
#[derive(Copy, Clone, Debug)]
pub struct Packet<'a> {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Link type of `data`.
    pub link: LinkType,
    /// Captured bytes.
    pub data: &'a [u8],
    /// Length on the wire.
    pub orig_len: u32,
}

/// Setup errors of a packet source.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file cannot be opened or read.
    #[error("{}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a capture.
    #[error("{}: {why}", path.display())]
    NotACapture {
        /// The file.
        path: PathBuf,
        /// Why.
        why: &'static str,
    },
}
