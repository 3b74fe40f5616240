//! Progress for long commands (`hookd migrate`, `hookd backup`, `hookd restore`, bulk key
//! imports, the benchmark's phases): drawn on standard error when it is a terminal, and
//! nothing at all when it is piped or redirected, so logs and scripts see only the
//! summary lines the commands print themselves.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether progress is drawn: standard error is a terminal and `TERM` is not `dumb`.
pub fn visible() -> bool {
    !ProgressDrawTarget::stderr().is_hidden()
}

/// A spinner with `message` and the time elapsed, for work whose size is unknown.
pub fn spinner(message: impl Into<String>) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("a valid template"));
    bar.set_message(message.into());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A bar over `len` items, with `message`, the count, the rate and the time left.
pub fn items(len: u64, message: impl Into<String>) -> ProgressBar {
    bar(len, "{msg} [{bar:30}] {pos}/{len} ({per_sec}, {eta} left)", message)
}

/// A bar over `len` bytes, with `message`, the amount done, the rate and the time left.
pub fn bytes(len: u64, message: impl Into<String>) -> ProgressBar {
    bar(len, "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)", message)
}

fn bar(len: u64, template: &str, message: impl Into<String>) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(ProgressStyle::with_template(template).expect("a valid template").progress_chars("=> "));
    bar.set_message(message.into());
    bar
}

/// A bar over a phase of fixed length, `total`; set its position in milliseconds and
/// its message to what the phase has reached (the benchmark's measuring windows).
pub fn timed(total: Duration, message: impl Into<String>) -> ProgressBar {
    bar(total.as_millis() as u64, "  [{bar:30}] {elapsed} {msg}", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_valid_and_bars_count() {
        let b = items(3, "importing");
        b.inc(2);
        assert_eq!(b.position(), 2);
        b.finish_and_clear();
        let b = bytes(1024, "copying");
        b.set_position(512);
        assert_eq!(b.length(), Some(1024));
        b.finish_and_clear();
        spinner("working").finish_and_clear();
        let b = timed(Duration::from_secs(2), "measuring");
        b.set_position(1500);
        assert_eq!(b.length(), Some(2000));
        b.finish_and_clear();
    }
}
