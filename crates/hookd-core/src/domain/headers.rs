//! Custom headers a webhook sends with every delivery (an API key the receiver expects,
//! a routing hint): their rules, and how they are kept (names in clear, values sealed).

use std::collections::{BTreeMap, HashSet};

use super::FieldErrors;
use crate::crypto::Sealed;

/// Most custom headers on one webhook.
pub const MAX_CUSTOM_HEADERS: usize = 20;
/// Most bytes of names and values together.
pub const MAX_CUSTOM_HEADER_BYTES: usize = 4096;
/// What a header's value reads as in a webhook's representation.
pub const MASKED_VALUE: &str = "********";

/// Headers the connection owns (RFC 9110 §7.6.1 and the proxies'), and the ones hookd
/// sets from the delivery itself (which the attempt log derives, so they must be what was
/// sent).
pub const REFUSED_HEADERS: [&str; 15] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "expect",
    "user-agent",
];

/// Prefixes of the headers hookd signs and identifies deliveries with.
pub const REFUSED_HEADER_PREFIXES: [&str; 3] = ["webhook-", "x-hookd-", "svix-"];

/// A webhook's custom headers as stored: the names in clear, for showing them masked,
/// and the whole map sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedHeaders {
    pub names: Vec<String>,
    pub sealed: Sealed,
}

/// The context a webhook's headers are sealed under.
pub fn headers_context(webhook_id: &str) -> String {
    format!("{webhook_id}/headers")
}

/// Whether `name` is an RFC 9110 token (`tchar`s only).
pub fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Checks custom headers, naming each bad one as `headers.<Name>`. `signature_header`
/// is the deployment's body-signature header, which hookd sets itself.
pub fn check_headers(headers: &BTreeMap<String, String>, signature_header: &str, errs: &mut FieldErrors) {
    if headers.len() > MAX_CUSTOM_HEADERS {
        errs.push("headers", format!("must have at most {MAX_CUSTOM_HEADERS} headers"));
        return;
    }
    let total: usize = headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_CUSTOM_HEADER_BYTES {
        errs.push(
            "headers",
            format!("must be at most {MAX_CUSTOM_HEADER_BYTES} bytes of names and values together (these are {total})"),
        );
        return;
    }
    let mut seen = HashSet::new();
    for (name, value) in headers {
        let field = format!("headers.{name}");
        let lower = name.to_ascii_lowercase();
        if !is_token(name) {
            errs.push(field, "is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)");
        } else if !seen.insert(lower.clone()) {
            errs.push(field, "is listed more than once (header names are case-insensitive)");
        } else if REFUSED_HEADERS.contains(&lower.as_str()) {
            errs.push(field, "may not be set: the HTTP connection or hookd sets it");
        } else if REFUSED_HEADER_PREFIXES.iter().any(|p| lower.starts_with(p))
            || lower == signature_header.to_ascii_lowercase()
        {
            errs.push(field, "may not be set: hookd signs and identifies deliveries with it");
        } else if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            errs.push(field, "must not contain CR, LF or NUL");
        } else if value.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f) {
            errs.push(field, "must not contain control characters");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut errs = FieldErrors::default();
        check_headers(&map, "X-Linq-Signature", &mut errs);
        errs.0.into_iter().map(|e| (e.field, e.message)).collect()
    }

    #[test]
    fn ordinary_headers_pass() {
        assert!(errors(&[("X-Api-Key", "k-123"), ("Authorization", "Bearer abc"), ("X-Tenant", "")]).is_empty());
    }

    #[test]
    fn refused_names_are_named() {
        for name in
            ["Host", "content-length", "Transfer-Encoding", "Connection", "Upgrade", "TE", "Content-Type", "User-Agent"]
        {
            let e = errors(&[(name, "x")]);
            assert_eq!(e[0].0, format!("headers.{name}"));
            assert!(e[0].1.contains("may not be set"), "{e:?}");
        }
        for name in ["webhook-signature", "Webhook-Id", "X-Hookd-Event", "x-linq-signature", "svix-id"] {
            assert!(errors(&[(name, "x")])[0].1.contains("signs"), "{name}");
        }
    }

    #[test]
    fn names_must_be_tokens_and_values_single_lines() {
        assert!(errors(&[("X Api", "v")])[0].1.contains("valid header name"));
        assert!(errors(&[("X:Api", "v")])[0].1.contains("valid header name"));
        assert!(errors(&[("", "v")])[0].1.contains("valid header name"));
        assert!(errors(&[("X-A", "a\r\nX-Evil: 1")])[0].1.contains("CR, LF or NUL"));
        assert!(errors(&[("X-A", "a\0")])[0].1.contains("CR, LF or NUL"));
        assert!(errors(&[("X-A", "a\x07")])[0].1.contains("control"));
        assert!(errors(&[("X-A", "tab\tok")]).is_empty());
    }

    #[test]
    fn duplicates_differ_only_in_case() {
        let e = errors(&[("X-Key", "a"), ("x-key", "b")]);
        assert_eq!(e.len(), 1);
        assert!(e[0].1.contains("more than once"));
    }

    #[test]
    fn count_and_size_bounds() {
        let many: Vec<(String, String)> = (0..21).map(|i| (format!("X-H{i}"), "v".into())).collect();
        let refs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert!(errors(&refs)[0].1.contains("at most 20"));
        let big = "v".repeat(4092);
        assert!(errors(&[("X-Big", &big)])[0].1.contains("4096 bytes"));
    }
}
