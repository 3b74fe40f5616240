//! Charts drawn on the server as SVG: readable without JavaScript, sized by their
//! container, and described for screen readers. Colours come from the style sheet
//! (classes), so the charts follow its theme.

use std::fmt::Write;

use hookd_core::domain::Health;
use time::OffsetDateTime;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 10.0;

/// One point per hour, oldest first.
type Hours = [(OffsetDateTime, Health)];

/// Attempts per hour as stacked bars: succeeded below, failed on top.
pub fn volume(hours: &Hours) -> String {
    let total_ok: i64 = hours.iter().map(|(_, h)| h.succeeded).sum();
    let total_bad: i64 = hours.iter().map(|(_, h)| h.failed).sum();
    let max = hours.iter().map(|(_, h)| h.attempts()).max().unwrap_or(0).max(1);
    let top = nice_ceiling(max as f64);
    let label = format!(
        "Attempts per hour over the last {} hours: {total_ok} succeeded, {total_bad} failed; at most {max} in one hour.",
        hours.len()
    );
    let mut svg = open(&label);
    axes(&mut svg, top, |v| format!("{v:.0}"));
    let slot = (WIDTH - LEFT) / hours.len().max(1) as f64;
    let bar = (slot * 0.8).max(1.0);
    let plot = HEIGHT - BOTTOM - TOP;
    for (i, (at, h)) in hours.iter().enumerate() {
        let x = LEFT + i as f64 * slot + (slot - bar) / 2.0;
        let ok = h.succeeded as f64 / top * plot;
        let bad = h.failed as f64 / top * plot;
        let base = HEIGHT - BOTTOM;
        let when = hour_label(*at);
        if h.succeeded > 0 {
            let _ = write!(
                svg,
                r#"<rect class="ok" x="{x:.1}" y="{:.1}" width="{bar:.1}" height="{ok:.1}"><title>{when}: {} succeeded</title></rect>"#,
                base - ok,
                h.succeeded
            );
        }
        if h.failed > 0 {
            let _ = write!(
                svg,
                r#"<rect class="bad" x="{x:.1}" y="{:.1}" width="{bar:.1}" height="{bad:.1}"><title>{when}: {} failed</title></rect>"#,
                base - ok - bad,
                h.failed
            );
        }
    }
    x_labels(&mut svg, hours, slot);
    svg.push_str("</svg>");
    svg
}

/// Latency percentiles per hour (p50, p95, p99) as step lines; hours without attempts
/// are gaps.
pub fn latency(hours: &Hours) -> String {
    let series: Vec<(&str, &str, Vec<Option<f64>>)> = [("p50", "l50", 0.5), ("p95", "l95", 0.95), ("p99", "l99", 0.99)]
        .into_iter()
        .map(|(name, class, q)| (name, class, hours.iter().map(|(_, h)| h.latency_quantile(q)).collect()))
        .collect();
    let max = series.iter().flat_map(|(_, _, v)| v.iter().flatten()).fold(0.0f64, |a, &b| a.max(b));
    let top = nice_ceiling(max.max(1.0));
    let worst = series[2].2.iter().flatten().fold(0.0f64, |a, &b| a.max(b));
    let label = if max == 0.0 {
        format!("Latency per hour over the last {} hours: no attempts.", hours.len())
    } else {
        format!(
            "Latency percentiles per hour over the last {} hours (p50, p95, p99); the worst hourly p99 was {}.",
            hours.len(),
            crate::views::millis(worst)
        )
    };
    let mut svg = open(&label);
    axes(&mut svg, top, crate::views::millis);
    let slot = (WIDTH - LEFT) / hours.len().max(1) as f64;
    let plot = HEIGHT - BOTTOM - TOP;
    for (name, class, values) in &series {
        let mut d = String::new();
        let mut pen_down = false;
        // A step per hour, so that a lone hour shows as a line too.
        for (i, v) in values.iter().enumerate() {
            match v {
                Some(ms) => {
                    let (x0, x1) = (LEFT + i as f64 * slot, LEFT + (i as f64 + 1.0) * slot);
                    let y = HEIGHT - BOTTOM - ms / top * plot;
                    let _ = write!(d, "{}{x0:.1},{y:.1} L{x1:.1},{y:.1} ", if pen_down { "L" } else { "M" });
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        if !d.is_empty() {
            let _ = write!(svg, r#"<path class="{class}" d="{}"><title>{name}</title></path>"#, d.trim_end());
        }
    }
    x_labels(&mut svg, hours, slot);
    svg.push_str("</svg>");
    svg
}

fn open(label: &str) -> String {
    // The label is built from numbers and fixed words only; nothing user-supplied.
    format!(
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}" preserveAspectRatio="none"><title>{label}</title>"#
    )
}

fn axes(svg: &mut String, top: f64, fmt: impl Fn(f64) -> String) {
    let plot = HEIGHT - BOTTOM - TOP;
    for step in 0..=4 {
        let v = top * step as f64 / 4.0;
        let y = HEIGHT - BOTTOM - plot * step as f64 / 4.0;
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{WIDTH}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + 4.0,
            fmt(v)
        );
    }
}

fn x_labels(svg: &mut String, hours: &Hours, slot: f64) {
    // About six labels, on whole hours (24 h) or at midnight (7 days).
    let every = (hours.len() / 6).max(1);
    for (i, (at, _)) in hours.iter().enumerate() {
        if i % every != 0 {
            continue;
        }
        let text = if hours.len() > 48 {
            format!("{:02}-{:02}", u8::from(at.month()), at.day())
        } else {
            format!("{:02}:00", at.hour())
        };
        let _ = write!(
            svg,
            r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">{text}</text>"#,
            LEFT + (i as f64 + 0.5) * slot,
            HEIGHT - 6.0
        );
    }
}

fn hour_label(t: OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02} {:02}:00 UTC", t.year(), u8::from(t.month()), t.day(), t.hour())
}

/// The smallest of 1, 2 or 5 times a power of ten at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * p).find(|c| *c >= v).unwrap_or(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookd_core::domain::{StatRow, LATENCY_BOUNDS_MS};
    use hookd_core::id::WebhookId;
    use time::macros::datetime;

    fn hours(n: usize) -> Vec<(OffsetDateTime, Health)> {
        let w = WebhookId::generate();
        (0..n)
            .map(|i| {
                let at = datetime!(2026-12-01 00:00 UTC) + time::Duration::hours(i as i64);
                let row = StatRow {
                    webhook_id: w.clone(),
                    hour: at,
                    bucket: i % LATENCY_BOUNDS_MS.len(),
                    succeeded: i as i64,
                    failed: 1,
                };
                (at, Health::of([&row]))
            })
            .collect()
    }

    #[test]
    fn ceilings_are_round() {
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(130.0), 200.0);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(nice_ceiling(0.3), 0.5);
    }

    #[test]
    fn volume_has_a_bar_per_hour_and_a_description() {
        let svg = volume(&hours(24));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches(r#"class="bad""#).count(), 24, "one failed bar per hour");
        assert_eq!(svg.matches(r#"class="ok""#).count(), 23, "hour 0 had no success");
        assert!(svg.contains("276 succeeded, 24 failed"), "{svg}");
    }

    #[test]
    fn latency_draws_three_lines_with_gaps_for_empty_hours() {
        let mut h = hours(24);
        h[5].1 = Health::of([]);
        let svg = latency(&h);
        assert_eq!(svg.matches("<path").count(), 3);
        let p50 = svg.split(r#"class="l50" d=""#).nth(1).unwrap();
        assert_eq!(p50.split('"').next().unwrap().matches('M').count(), 2, "the gap starts a new segment");
        assert!(latency(&[]).contains("no attempts"));
    }
}
