//! Extractors that turn bad input into precise errors: malformed JSON is a 400 that says
//! where, a wrong type or an unknown field is a 422 that names the field, an oversized
//! body is a 413.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use bytes::Bytes;
use hookd_core::domain::FieldErrors;
use hookd_core::domain::Scope;
use hookd_core::service::Principal;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::BODY_LIMIT;

/// A request body, read up to the 1 MiB limit (413 beyond). Handlers check the caller's
/// scope before parsing it, so a key without access learns nothing from a parse error.
pub struct RawBody<const LIMIT: usize = BODY_LIMIT>(pub Bytes);

impl<S: Send + Sync, const LIMIT: usize> FromRequest<S> for RawBody<LIMIT> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        axum::body::to_bytes(req.into_body(), LIMIT)
            .await
            .map(RawBody)
            .map_err(|_| ApiError::PayloadTooLarge { limit: LIMIT })
    }
}

impl<const LIMIT: usize> RawBody<LIMIT> {
    /// Parses the body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json(&self.0)
    }

    /// Parses the body as JSON; an empty body or `null` is `T::default()`.
    pub fn json_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, ApiError> {
        if self.0.iter().all(u8::is_ascii_whitespace) || self.0.trim_ascii() == b"null" {
            Ok(T::default())
        } else {
            parse_json(&self.0)
        }
    }
}

/// Parses a JSON body into `T`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::InvalidJson("the body is empty; send a JSON object".into()));
    }
    // Every body is an object; say so rather than report a confusing positional error.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    {
        return Err(ApiError::validation("body", "must be a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut *de);
    let err = match result {
        // Only whitespace may follow the value: `{…} xx` or two objects are not one body.
        Ok(v) => {
            return match de.end() {
                Ok(()) => Ok(v),
                Err(e) => Err(ApiError::InvalidJson(format!(
                    "{} after the JSON value (line {}, column {})",
                    strip_position(&e.to_string()),
                    e.line(),
                    e.column()
                ))),
            }
        }
        Err(e) => e,
    };
    let path = err.path().to_string();
    let inner = err.into_inner();
    use serde_json::error::Category;
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => Err(ApiError::InvalidJson(format!(
            "{} (line {}, column {})",
            strip_position(&inner.to_string()),
            inner.line(),
            inner.column()
        ))),
        Category::Data => Err(ApiError::Validation(data_error(&path, &strip_position(&inner.to_string())))),
    }
}

/// serde_json appends " at line L column C"; we report the position separately.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// Names the field of a data error. serde reports unknown and missing fields at the
/// parent's path, with the name in backticks in the message.
fn data_error(path: &str, msg: &str) -> FieldErrors {
    let root = path == "." || path.is_empty();
    let named = |lead: &str| {
        msg.strip_prefix(lead).and_then(|rest| rest.split('`').next()).map(|name| {
            // serde_path_to_error already ends the path with an unknown field's name, but
            // not with a missing one's.
            if root {
                name.to_owned()
            } else if path == name || path.ends_with(&format!(".{name}")) {
                path.to_owned()
            } else {
                format!("{path}.{name}")
            }
        })
    };
    if let Some(field) = named("unknown field `") {
        let expected = msg.split_once(", expected ").map(|(_, e)| e).unwrap_or("");
        let rule = if expected.is_empty() {
            "is not a known field".to_owned()
        } else {
            format!("is not a known field (expected {expected})")
        };
        return FieldErrors::single(field, rule);
    }
    if let Some(field) = named("missing field `") {
        return FieldErrors::single(field, "is required");
    }
    let field = if root { "body".to_owned() } else { path.to_owned() };
    FieldErrors::single(field, msg)
}

/// Query-string parameters, with the same field-precise errors (as 422s).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
        serde_path_to_error::deserialize(de).map(ApiQuery).map_err(|e| {
            let path = e.path().to_string();
            ApiError::Validation(data_error(&path, &e.into_inner().to_string()))
        })
    }
}

/// The authenticated caller, put in place by the auth middleware.
pub struct Caller(pub Principal);

impl Caller {
    /// Fails with 403 unless the key has `scope`.
    pub fn require(&self, scope: Scope) -> Result<&Principal, ApiError> {
        if self.0.allows(scope) {
            Ok(&self.0)
        } else {
            Err(ApiError::Forbidden(scope.as_str()))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| ApiError::Unauthorized("missing API key".into()))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Req {
        url: Option<String>,
        events: Option<Vec<String>>,
        metadata: Option<std::collections::BTreeMap<String, String>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Req,
    }

    fn fields(e: ApiError) -> Vec<(String, String)> {
        match e {
            ApiError::Validation(f) => f.0.into_iter().map(|e| (e.field, e.message)).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn syntax_errors_say_where() {
        let e = parse_json::<Req>(b"{\"url\": ").unwrap_err();
        assert!(matches!(&e, ApiError::InvalidJson(m) if m.contains("line 1")), "{e:?}");
        assert!(matches!(parse_json::<Req>(b"").unwrap_err(), ApiError::InvalidJson(_)));
    }

    #[test]
    fn anything_after_the_value_is_a_syntax_error() {
        for body in [&b"{\"url\": \"x\"} xx"[..], b"{} {}", b"{}]", b"{\"url\": \"x\"}\n,"] {
            let e = parse_json::<Req>(body).unwrap_err();
            assert!(
                matches!(&e, ApiError::InvalidJson(m) if m.contains("trailing characters")),
                "{}: {e:?}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(parse_json::<Req>(b"{\"url\": \"x\"}\n \t").is_ok(), "trailing whitespace is fine");
    }

    #[test]
    fn type_errors_name_the_field() {
        let f = fields(parse_json::<Req>(br#"{"events": "link.created"}"#).unwrap_err());
        assert_eq!(f[0].0, "events");
        let f = fields(parse_json::<Req>(br#"{"events": ["a", 3]}"#).unwrap_err());
        assert_eq!(f[0].0, "events[1]");
        let f = fields(parse_json::<Req>(br#"{"metadata": {"team": 1}}"#).unwrap_err());
        assert_eq!(f[0].0, "metadata.team");
    }

    #[test]
    fn unknown_fields_are_named() {
        let f = fields(parse_json::<Req>(br#"{"url": "x", "colour": "red"}"#).unwrap_err());
        assert_eq!(f[0].0, "colour");
        let f = fields(parse_json::<Outer>(br#"{"inner": {"colour": "red"}}"#).unwrap_err());
        assert_eq!(f[0].0, "inner.colour");
        assert!(f[0].1.contains("not a known field"));
    }

    #[test]
    fn a_body_that_is_not_an_object_is_a_type_error() {
        let f = fields(parse_json::<Req>(b"[1]").unwrap_err());
        assert_eq!(f[0].0, "body");
    }
}

/// An id taken from the path. One that does not parse names no object, so it answers
/// 404 like an id that does not exist; the services only ever see typed ids.
pub trait PathId: Sized {
    fn from_path(raw: &str) -> Result<Self, ApiError>;
}

macro_rules! path_id {
    ($($ty:ty => $what:literal),* $(,)?) => {$(
        impl PathId for $ty {
            fn from_path(raw: &str) -> Result<Self, ApiError> {
                <$ty>::parse(raw).map_err(|_| hookd_core::service::ServiceError::NotFound { what: $what }.into())
            }
        }
    )*};
}

path_id!(
    hookd_core::id::WebhookId => "webhook",
    hookd_core::id::DeliveryId => "delivery",
    hookd_core::id::EventId => "event",
    hookd_core::id::ErasureId => "erasure",
);
