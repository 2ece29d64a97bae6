//! One command, one trace, in standalone mode: from the gateway's request through the command
//! service, its append and its relay to a read model applying the event, each span the child of
//! the one before.
//!
//! A test binary of its own: it installs the process's one global subscriber, with the spans
//! exported to memory, and every part of the system runs in this process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use reqwest::StatusCode;
use service_kit::telemetry::Telemetry;
use standalone::Standalone;

// Shared with the scenario suite, which uses the rest of it.
#[allow(dead_code)]
mod support;

use crate::support::Slice;
use crate::support::client::{Api, Command};

/// How long the event may take from the request to the read model.
const DEADLINE: Duration = Duration::from_secs(30);

/// The causal chain of a command, each span the parent of the next, with its kind.
const CHAIN: [(&str, SpanKind); 6] = [
    ("POST /api/v1/places", SpanKind::Server),
    ("command.publish", SpanKind::Producer),
    ("command.handle", SpanKind::Consumer),
    ("event_store.append", SpanKind::Internal),
    ("relay.publish", SpanKind::Producer),
    ("projection.apply", SpanKind::Consumer),
];

/// The finished spans of `trace_id`, in the order of [`CHAIN`], once all of them are there.
fn chain_of(exporter: &InMemorySpanExporter, trace_id: TraceId) -> Option<Vec<SpanData>> {
    let spans = exporter.get_finished_spans().unwrap();
    CHAIN
        .iter()
        .map(|(name, _)| {
            spans
                .iter()
                .find(|span| span.span_context.trace_id() == trace_id && span.name == *name)
                .cloned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_is_one_trace_from_the_request_to_the_read_model() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let telemetry =
        Telemetry::install(provider).expect("this test binary installs the only subscriber");
    // Log lines are not what this test reads; traces do not depend on the log filter.
    service_kit::logging::set_filter("warn").unwrap();
    let slice = Slice::new();
    let system = Standalone::start(slice.sources()).await.expect("it starts");
    let member = Api::new(system.gateway()).sign_up("ann").await;

    let added = member.send(&Command::add_place("Café Sperl")).await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    let traceparent = added.header("traceparent").expect("a traceparent answer");
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    let trace_id = TraceId::from_hex(parts[1]).unwrap();

    let chain = testkit::poll::until(
        "every span of the command's trace, up to the read model's",
        DEADLINE,
        || async { chain_of(&exporter, trace_id) },
    )
    .await;

    let server = &chain[0];
    assert_eq!(
        server.parent_span_id,
        SpanId::INVALID,
        "no traceparent came in: the request starts the trace"
    );
    assert_eq!(
        server.span_context.span_id(),
        SpanId::from_hex(parts[2]).unwrap(),
        "the answer's traceparent is the server span's"
    );
    for ((span, (name, kind)), parent) in chain
        .iter()
        .zip(CHAIN)
        .zip(std::iter::once(None).chain(chain.iter().map(Some)))
    {
        assert_eq!(span.span_kind, kind, "{name}");
        if let Some(parent) = parent {
            assert_eq!(
                span.parent_span_id,
                parent.span_context.span_id(),
                "{name} is a child of {}",
                parent.name
            );
        }
    }
    let append = &chain[3];
    let apply = &chain[5];
    assert!(
        apply
            .links
            .links
            .iter()
            .any(|link| link.span_context.trace_id() == trace_id
                && link.span_context.span_id() == append.span_context.span_id()),
        "the apply links to the append that recorded its event: {:?}",
        apply.links
    );

    system.stop().await;
    slice.clean_up().await;
    telemetry.shutdown();
}
