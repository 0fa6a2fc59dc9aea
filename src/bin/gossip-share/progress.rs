//! The download progress bar on stderr: percentage, bytes, rate and ETA,
//! redrawn at most every 200 ms, and only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Least time between two redraws.
const REDRAW: Duration = Duration::from_millis(200);
/// Width of the bar in characters.
const WIDTH: usize = 30;

/// A progress bar for `total` bytes.
pub struct Progress {
    total: u64,
    start: Instant,
    last_draw: Option<Instant>,
    enabled: bool,
}

impl Progress {
    /// A bar that draws only when stderr is a terminal.
    pub fn new(total: u64) -> Progress {
        Progress {
            total,
            start: Instant::now(),
            last_draw: None,
            enabled: std::io::stderr().is_terminal(),
        }
    }

    /// Redraws with `done` bytes, unless the last redraw was too recent.
    pub fn update(&mut self, done: u64) {
        let now = Instant::now();
        if !self.enabled || self.last_draw.is_some_and(|t| now - t < REDRAW) {
            return;
        }
        self.last_draw = Some(now);
        let line = render(done, self.total, now - self.start);
        let _ = write!(std::io::stderr().lock(), "\r{line}");
    }

    /// Draws the final state and ends the line.
    pub fn finish(&mut self, done: u64) {
        if self.enabled {
            let line = render(done, self.total, self.start.elapsed());
            let _ = writeln!(std::io::stderr().lock(), "\r{line}");
        }
    }
}

/// One line: `[#####-----]  45%  90.0/200.0 MB  123.4 MB/s  ETA 0:01`.
pub fn render(done: u64, total: u64, elapsed: Duration) -> String {
    let fraction = if total == 0 {
        1.0
    } else {
        done as f64 / total as f64
    };
    let filled = ((fraction * WIDTH as f64) as usize).min(WIDTH);
    let secs = elapsed.as_secs_f64().max(1e-3);
    let rate = done as f64 / secs;
    let eta = if rate > 0.0 {
        let left = (total.saturating_sub(done)) as f64 / rate;
        format!("{}:{:02}", left as u64 / 60, left as u64 % 60)
    } else {
        "--:--".into()
    };
    format!(
        "[{}{}] {:3.0}%  {:.1}/{:.1} MB  {:.1} MB/s  ETA {eta}  ",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled),
        fraction * 100.0,
        done as f64 / 1e6,
        total as f64 / 1e6,
        rate / 1e6,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_fraction_rate_and_eta() {
        let line = render(50_000_000, 100_000_000, Duration::from_secs(1));
        assert!(line.contains(" 50%"), "{line}");
        assert!(line.contains("50.0 MB/s"), "{line}");
        assert!(line.contains("ETA 0:01"), "{line}");
        assert!(render(0, 0, Duration::ZERO).contains("100%"));
        assert!(render(0, 10, Duration::from_secs(1)).contains("ETA --:--"));
    }
}
