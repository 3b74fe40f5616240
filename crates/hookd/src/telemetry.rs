//! Installing the tracing subscriber: JSON lines for production, readable text under
//! `--dev`. Logs go to stderr; stdout carries only what a command is asked to print.

use std::io::IsTerminal;

use tracing_subscriber::fmt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Builds the subscriber without installing it.
pub fn subscriber(format: LogFormat, level: &str) -> Box<dyn tracing::Subscriber + Send + Sync> {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => Box::new(
            registry.with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            ),
        ),
        LogFormat::Text => Box::new(
            registry
                .with(fmt::layer().compact().with_ansi(std::io::stderr().is_terminal()).with_writer(std::io::stderr)),
        ),
    }
}

/// Installs the subscriber for the process. Does nothing if one is installed already.
pub fn init(format: LogFormat, level: &str) {
    let _ = subscriber(format, level).try_init();
}
