//! The progress bar of long replays (on standard error, only when it is a terminal).

use hellowatch::run::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::{Duration, Instant};

/// Redraws per second at most.
pub const REDRAWS_PER_SECOND: u8 = 10;

/// A bar showing bytes read of the total, packets per second and hellos so far.
#[derive(Debug)]
pub struct ReplayBar {
    bar: ProgressBar,
    start: Instant,
    last: Instant,
}

impl ReplayBar {
    /// A bar on standard error for `total_bytes`.
    pub fn new(total_bytes: u64) -> Self {
        let bar = ProgressBar::with_draw_target(
            Some(total_bytes),
            ProgressDrawTarget::stderr_with_hz(REDRAWS_PER_SECOND),
        );
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {bytes}/{total_bytes} {msg} (eta {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        let now = Instant::now();
        ReplayBar {
            bar,
            start: now,
            last: now,
        }
    }

    /// Shows `p` (at most [`REDRAWS_PER_SECOND`] times a second).
    pub fn update(&mut self, p: &Progress) {
        let now = Instant::now();
        if now.duration_since(self.last)
            < Duration::from_millis(1000 / u64::from(REDRAWS_PER_SECOND))
            && p.bytes < p.total_bytes
        {
            return;
        }
        self.last = now;
        let secs = now.duration_since(self.start).as_secs_f64();
        // A rate over less than half a second says little.
        let rate = if secs >= 0.5 {
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            let pps = (p.packets as f64 / secs) as u64;
            format!(" ({pps}/s)")
        } else {
            String::new()
        };
        self.bar.set_position(p.bytes);
        self.bar
            .set_message(format!("{} packets{rate}, {} hellos", p.packets, p.hellos));
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
