//! The event-type catalog and subscription patterns.
//!
//! A deployment either lists its event types (a closed catalog: only those names may be
//! subscribed to or published) or lists none (an open catalog: any well-formed dotted
//! lower-case name). `test.ping` always exists. A subscription is an exact name, `*` for
//! everything, or a prefix wildcard such as `link.*`.

/// The name that always exists, used by the test-delivery route.
pub const TEST_PING: &str = "test.ping";

/// Longest event type name accepted.
const MAX_NAME_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventType {
    pub name: String,
    pub description: String,
}

/// Why a name or pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventTypeError {
    #[error("must be a dotted lower-case name such as `link.created` (segments of a-z, 0-9 and _, at most {MAX_NAME_LEN} characters)")]
    Malformed,
    #[error("is not a known event type (see GET /v1/event-types)")]
    Unknown,
    #[error("matches no known event type (see GET /v1/event-types)")]
    WildcardMatchesNothing,
}

#[derive(Debug, Clone)]
pub struct EventCatalog {
    types: Vec<EventType>,
    open: bool,
}

impl EventCatalog {
    /// Builds the catalog from configuration. An empty list makes an open catalog.
    pub fn new(configured: Vec<EventType>) -> Result<Self, (String, EventTypeError)> {
        let open = configured.is_empty();
        let mut types: Vec<EventType> = Vec::with_capacity(configured.len() + 1);
        for t in configured {
            validate_name(&t.name).map_err(|e| (t.name.clone(), e))?;
            if !types.iter().any(|x| x.name == t.name) {
                types.push(t);
            }
        }
        if !types.iter().any(|t| t.name == TEST_PING) {
            types.push(EventType {
                name: TEST_PING.into(),
                description: "A test event for verifying webhook delivery.".into(),
            });
        }
        Ok(Self { types, open })
    }

    /// The catalog of operational webhooks: the operational events alone.
    pub fn operational() -> Self {
        let types = crate::domain::OPERATIONAL_EVENTS
            .iter()
            .map(|(name, description)| EventType { name: (*name).into(), description: (*description).into() })
            .collect();
        Self::new(types).expect("the operational events are well formed")
    }

    /// An open catalog: any well-formed name.
    pub fn open() -> Self {
        Self::new(Vec::new()).expect("the empty catalog is valid")
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    pub fn types(&self) -> &[EventType] {
        &self.types
    }

    /// Whether an event of this type may be published.
    pub fn check_event(&self, name: &str) -> Result<(), EventTypeError> {
        validate_name(name)?;
        if self.open || self.types.iter().any(|t| t.name == name) {
            Ok(())
        } else {
            Err(EventTypeError::Unknown)
        }
    }

    /// Whether a webhook may subscribe to this pattern.
    pub fn check_pattern(&self, pattern: &str) -> Result<(), EventTypeError> {
        if pattern == "*" {
            return Ok(());
        }
        if let Some(prefix) = pattern.strip_suffix(".*") {
            validate_prefix(prefix)?;
            if self.open || self.types.iter().any(|t| pattern_matches(pattern, &t.name)) {
                return Ok(());
            }
            return Err(EventTypeError::WildcardMatchesNothing);
        }
        self.check_event(pattern)
    }
}

/// Whether a subscription pattern matches an event type.
pub fn pattern_matches(pattern: &str, event: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix('*') {
        // `link.*` keeps its dot, so it matches `link.created` but not `linkage.created`.
        Some(prefix) => event.len() > prefix.len() && event.starts_with(prefix),
        None => pattern == event,
    }
}

/// Whether `name` is a well-formed event type name (whether or not the catalog has it).
pub fn validate_name(name: &str) -> Result<(), EventTypeError> {
    if name.len() > MAX_NAME_LEN || name.split('.').count() < 2 {
        return Err(EventTypeError::Malformed);
    }
    validate_prefix(name)
}

fn validate_prefix(prefix: &str) -> Result<(), EventTypeError> {
    if prefix.is_empty() || prefix.len() > MAX_NAME_LEN {
        return Err(EventTypeError::Malformed);
    }
    let segment_ok = |s: &str| {
        s.as_bytes().first().is_some_and(|b| b.is_ascii_lowercase())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    if prefix.split('.').all(segment_ok) {
        Ok(())
    } else {
        Err(EventTypeError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed() -> EventCatalog {
        EventCatalog::new(vec![
            EventType { name: "link.created".into(), description: "".into() },
            EventType { name: "page.submission.created".into(), description: "".into() },
            EventType { name: "typing_indicator.received".into(), description: "".into() },
        ])
        .unwrap()
    }

    #[test]
    fn test_ping_always_exists() {
        assert!(closed().check_event("test.ping").is_ok());
        assert!(EventCatalog::open().types().iter().any(|t| t.name == "test.ping"));
    }

    #[test]
    fn closed_catalog_accepts_only_its_names_and_matching_wildcards() {
        let c = closed();
        assert!(c.check_pattern("link.created").is_ok());
        assert!(c.check_pattern("typing_indicator.received").is_ok());
        assert!(c.check_pattern("*").is_ok());
        assert!(c.check_pattern("link.*").is_ok());
        assert!(c.check_pattern("page.submission.*").is_ok());
        assert_eq!(c.check_pattern("link.deleted"), Err(EventTypeError::Unknown));
        assert_eq!(c.check_pattern("bio.*"), Err(EventTypeError::WildcardMatchesNothing));
    }

    #[test]
    fn open_catalog_accepts_any_well_formed_name() {
        let c = EventCatalog::open();
        assert!(c.check_pattern("anything.at_all").is_ok());
        assert!(c.check_pattern("anything.*").is_ok());
        for bad in ["", "single", "Link.created", "link..created", "link.", ".x", "link.cre-ated", "link.*.x", "**"] {
            assert_eq!(c.check_pattern(bad), Err(EventTypeError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn wildcards_match_on_segment_boundaries() {
        assert!(pattern_matches("*", "link.created"));
        assert!(pattern_matches("link.*", "link.created"));
        assert!(pattern_matches("link.*", "link.qr.scanned"));
        assert!(!pattern_matches("link.*", "linkage.created"));
        assert!(!pattern_matches("link.*", "link."));
        assert!(pattern_matches("link.created", "link.created"));
        assert!(!pattern_matches("link.created", "link.created2"));
    }
}
