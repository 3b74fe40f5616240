//! What every page shares: its frame ([`Chrome`]: title, navigation, branding, the
//! workspace switcher) and the formatting of times, durations and statuses.

use askama::Template;
use axum::response::Html;
use hookd_core::domain::{DeliveryStatus, Health, Scope};
use time::OffsetDateTime;

use crate::session::Viewer;
use crate::{Surface, WebState};

/// Renders a template; a template that fails to render is a bug, logged, and a plain
/// message shown.
pub fn html(t: &impl Template) -> Html<String> {
    match t.render() {
        Ok(s) => Html(s),
        Err(e) => {
            tracing::error!(error = %e, "a page template failed to render");
            Html("<!doctype html><title>Error</title><p>This page could not be shown.".to_owned())
        }
    }
}

pub struct NavItem {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

pub struct WorkspaceChoice {
    pub id: String,
    pub name: String,
    pub current: bool,
}

/// The frame around a page.
pub struct Chrome {
    pub title: String,
    pub brand: String,
    pub home: String,
    pub logo: Option<String>,
    pub portal: bool,
    pub nav: Vec<NavItem>,
    /// Empty when signed out.
    pub csrf: String,
    /// Who is signed in, for the header.
    pub who: String,
    pub base: &'static str,
    /// The workspaces an admin may switch to (empty: no switcher).
    pub workspaces: Vec<WorkspaceChoice>,
}

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Webhooks,
    Events,
    Keys,
    Workspaces,
}

impl Chrome {
    /// The frame of a page without a session (sign-in, errors).
    pub fn bare(surface: Surface, title: &str) -> Self {
        Self {
            title: title.to_owned(),
            brand: if surface == Surface::Portal { "Webhooks".into() } else { "hookd".into() },
            home: surface.base().to_owned(),
            logo: None,
            portal: surface == Surface::Portal,
            nav: Vec::new(),
            csrf: String::new(),
            who: String::new(),
            base: surface.base(),
            workspaces: Vec::new(),
        }
    }

    /// The frame of a signed-in page.
    pub async fn of(viewer: &Viewer, state: &WebState, title: impl Into<String>, section: Section) -> Self {
        let base = viewer.surface.base();
        let item = |label, path: &str, s| NavItem { label, href: format!("{base}{path}"), current: s == section };
        let mut nav = vec![item("Webhooks", "/webhooks", Section::Webhooks)];
        let principal = &viewer.active.principal;
        let mut workspaces = Vec::new();
        let (brand, logo, who) = match viewer.surface {
            Surface::Dashboard => {
                if viewer.allows(Scope::WebhooksRead) {
                    nav.push(item("Events", "/events", Section::Events));
                }
                if viewer.manages_keys() {
                    nav.push(item("Settings", "/settings/keys", Section::Keys));
                }
                if viewer.active.is_admin() {
                    nav.push(item("Workspaces", "/workspaces", Section::Workspaces));
                    if let Ok(all) = state.services().admin.list_workspaces(None, 100, None).await {
                        workspaces = all
                            .items
                            .into_iter()
                            .map(|w| WorkspaceChoice {
                                current: &w.id == principal.workspace_id(),
                                id: w.id.to_string(),
                                name: w.name,
                            })
                            .collect();
                    }
                }
                let k = &principal.key;
                ("hookd".to_owned(), None, format!("{} ({})", k.name, k.id))
            }
            Surface::Portal => {
                let p = &state.config().portal;
                (p.title.clone(), p.logo_url.as_ref().map(|u| u.to_string()), principal.owner().unwrap_or_default())
            }
        };
        Self {
            title: title.into(),
            brand,
            home: format!("{base}/webhooks"),
            logo,
            portal: viewer.surface == Surface::Portal,
            nav,
            csrf: viewer.csrf().to_owned(),
            who,
            base,
            workspaces,
        }
    }
}

/// A form's errors by field, the first of each, shown beside the field. A list's entry
/// (`events[2]`) or a map's (`metadata.team`) is reported on the list or the map.
pub fn field_errors(errors: &hookd_core::domain::FieldErrors) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    for e in &errors.0 {
        let field = e.field.split(['[', '.']).next().unwrap_or(&e.field).to_owned();
        out.entry(field).or_insert_with(|| e.message.clone());
    }
    out
}

/// `2026-12-02 15:04:05 UTC`.
pub fn when(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `3 min ago`, `2 h ago`, `5 d ago`.
pub fn ago(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let s = (now - t).whole_seconds().max(0);
    match s {
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// A latency in milliseconds, rounded for reading.
pub fn millis(ms: f64) -> String {
    if ms >= 10_000.0 {
        format!("{:.0} s", ms / 1000.0)
    } else if ms >= 1000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms >= 10.0 || ms == ms.trunc() {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// `99.5%`, or `—` without attempts.
pub fn rate(h: &Health) -> String {
    match h.success_rate() {
        Some(r) if r >= 0.9995 => "100%".into(),
        Some(r) => format!("{:.1}%", r * 100.0),
        None => "—".into(),
    }
}

/// The p95 latency, or `—`.
pub fn p95(h: &Health) -> String {
    h.latency_quantile(0.95).map(millis).unwrap_or_else(|| "—".into())
}

/// A delivery status's label and its badge's class.
pub fn status(s: DeliveryStatus) -> (&'static str, &'static str) {
    match s {
        DeliveryStatus::Pending => ("pending", "badge wait"),
        DeliveryStatus::InFlight => ("sending", "badge wait"),
        DeliveryStatus::Succeeded => ("succeeded", "badge ok"),
        DeliveryStatus::Failed => ("failed", "badge bad"),
        DeliveryStatus::Cancelled => ("cancelled", "badge off"),
        DeliveryStatus::Held => ("held", "badge off"),
    }
}

/// JSON indented for reading, or the text as it is when it is not JSON.
pub fn pretty_json(s: &str) -> String {
    serde_json::from_str::<serde_json::Value>(s)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_and_durations_read_well() {
        let t = datetime!(2026-12-02 15:04:05 UTC);
        assert_eq!(when(t), "2026-12-02 15:04:05 UTC");
        assert_eq!(ago(t, t + time::Duration::seconds(190)), "3 min ago");
        assert_eq!(ago(t, t + time::Duration::days(2)), "2 d ago");
        assert_eq!(millis(12.4), "12 ms");
        assert_eq!(millis(2.5), "2.5 ms");
        assert_eq!(millis(5.0), "5 ms");
        assert_eq!(millis(1500.0), "1.5 s");
        assert_eq!(pretty_json("{\"a\":1}"), "{\n  \"a\": 1\n}");
        assert_eq!(pretty_json("not json"), "not json");
    }
}
