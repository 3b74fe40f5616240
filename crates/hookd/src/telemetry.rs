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

/// `[telemetry]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetrySettings {
    /// Where spans are POSTed (`…/v1/traces`).
    pub endpoint: url::Url,
    pub protocol: crate::config::OtlpProtocol,
    pub service_name: String,
    pub sample_ratio: f64,
    pub export_interval: std::time::Duration,
}

/// The span exporter of a running node: spans are batched on a thread of their own and
/// sent every `export_interval`; [`Traces::shutdown`] sends what is left.
pub struct Traces {
    provider: opentelemetry_sdk::trace::SdkTracerProvider,
}

impl Traces {
    /// Builds the exporter. Nothing is sent until there are spans; a collector that is
    /// down costs dropped spans (logged), never a publish or a delivery.
    pub fn start(s: &TelemetrySettings) -> anyhow::Result<Self> {
        use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
        use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider};

        // The exporter's thread blocks on its requests, so its client is reqwest's
        // blocking one, built off the async runtime. Proxy variables are not read, as
        // for every connection hookd makes.
        let client = std::thread::spawn(|| {
            reqwest::blocking::Client::builder().no_proxy().timeout(std::time::Duration::from_secs(10)).build()
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the telemetry client's thread panicked"))??;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_endpoint(s.endpoint.as_str())
            .with_protocol(match s.protocol {
                crate::config::OtlpProtocol::HttpProtobuf => Protocol::HttpBinary,
                crate::config::OtlpProtocol::HttpJson => Protocol::HttpJson,
            })
            .with_timeout(std::time::Duration::from_secs(10))
            .build()?;
        let batches = BatchConfigBuilder::default().with_scheduled_delay(s.export_interval).build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(BatchSpanProcessor::builder(exporter).with_batch_config(batches).build())
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(s.sample_ratio))))
            .with_resource(opentelemetry_sdk::Resource::builder().with_service_name(s.service_name.clone()).build())
            .build();
        tracing::info!(endpoint = %s.endpoint, protocol = ?s.protocol, "exporting traces");
        Ok(Self { provider })
    }

    /// What makes hookd's spans.
    pub fn tracer(&self) -> hookd_core::trace::Tracer {
        use opentelemetry::trace::TracerProvider as _;
        let tracer = self.provider.tracer("hookd");
        hookd_core::trace::Tracer::new(opentelemetry::global::BoxedTracer::new(Box::new(tracer)))
    }

    /// Sends the spans not yet sent, and stops the exporter.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(e)) = done {
            tracing::warn!(error = %e, "could not send the last spans");
        }
    }
}
