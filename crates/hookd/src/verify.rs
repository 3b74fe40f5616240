//! `hookd verify`: checks a captured delivery's Standard Webhooks signature, as a
//! receiver would, and says why it fails when it does.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use hookd_delivery::signing::{self, VerifyKey};

pub struct VerifyOptions<'a> {
    pub key: VerifyKey,
    /// `-H 'name: value'`, in order.
    pub headers: &'a [String],
    pub headers_file: Option<&'a Path>,
    /// `None` or `-`: standard input.
    pub body_file: Option<&'a Path>,
    pub tolerance: Duration,
}

/// `Ok(Ok(summary))` when the delivery verifies, `Ok(Err(reason))` when it does not,
/// `Err` when the input cannot be read.
pub fn verify(opts: &VerifyOptions<'_>) -> anyhow::Result<Result<String, String>> {
    let mut headers = Vec::new();
    if let Some(file) = opts.headers_file {
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        headers.extend(parse_headers_file(&text).with_context(|| format!("in {}", file.display()))?);
    }
    for h in opts.headers {
        headers.push(parse_header_line(h).with_context(|| format!("-H {h:?}"))?);
    }
    let body = match opts.body_file {
        Some(p) if p != Path::new("-") => std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
        _ => {
            use std::io::IsTerminal;
            if std::io::stdin().is_terminal() {
                bail!("no body: pass --body FILE, or pipe the body in (hookd verify … < body.json)");
            }
            let mut b = Vec::new();
            std::io::stdin().read_to_end(&mut b).context("cannot read the body from standard input")?;
            b
        }
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let tolerance = i64::try_from(opts.tolerance.as_secs()).unwrap_or(i64::MAX);
    Ok(match signing::verify(&opts.key, &headers, &body, now, tolerance) {
        Ok(v) => Ok(format!(
            "verified: a valid {} signature of {} bytes (webhook-id {}, timestamp {}, {} s ago)",
            v.scheme,
            body.len(),
            v.msg_id,
            time::OffsetDateTime::from_unix_timestamp(v.timestamp)
                .map(hookd_core::time_fmt::format)
                .unwrap_or_default(),
            now - v.timestamp
        )),
        Err(e) => Err(e.to_string()),
    })
}

/// `Name: value`.
fn parse_header_line(line: &str) -> anyhow::Result<(String, String)> {
    match line.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_owned(), value.trim().to_owned())),
        _ => bail!("a header is written `Name: value`"),
    }
}

/// A JSON object of names and values, or `Name: value` lines as `curl -D` or a raw HTTP
/// request writes them (a request or status line and blank lines are skipped).
fn parse_headers_file(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    if text.trim_start().starts_with('{') {
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).context("a JSON headers file is an object of names and values")?;
        return Ok(map
            .into_iter()
            .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect());
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with("HTTP/") || line.contains(" HTTP/") {
            continue;
        }
        out.push(parse_header_line(line).with_context(|| format!("line {}", i + 1))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_files_in_both_forms() {
        let raw = "POST /hook HTTP/1.1\r\nHost: x\r\nwebhook-id: evt_1\r\nWebhook-Signature: v1,a b\r\n\r\n";
        let got = parse_headers_file(raw).unwrap();
        assert_eq!(got[1], ("webhook-id".to_owned(), "evt_1".to_owned()));
        assert_eq!(got[2], ("Webhook-Signature".to_owned(), "v1,a b".to_owned()));
        let json = r#"{"webhook-id": "evt_1", "webhook-timestamp": 1700000000}"#;
        assert_eq!(parse_headers_file(json).unwrap()[1].1, "1700000000");
        assert!(parse_headers_file("no colon here").unwrap_err().to_string().contains("line 1"));
    }
}
