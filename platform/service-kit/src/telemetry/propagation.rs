//! Span contexts across processes: W3C `traceparent` strings (in HTTP headers, message
//! headers, command envelopes and stored events) to and from `tracing` spans.
//!
//! Every function takes the string as it arrived and ignores one that is missing or malformed.
//! A span's parent and links must be set before the span is first entered or asked for its
//! [`traceparent`]: that is when its OpenTelemetry span starts.

use std::collections::HashMap;

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The carrier key the propagator reads and writes.
const TRACEPARENT: &str = "traceparent";

/// `span`'s context as a `traceparent`; None when the span is not traced (no telemetry in
/// this process, or a span that is filtered out), so that the caller can pass on what it got.
pub fn traceparent(span: &Span) -> Option<String> {
    let context = span.context();
    context
        .span()
        .span_context()
        .is_valid()
        .then(|| encode(&context))
        .flatten()
}

/// Makes the span named by `traceparent` the parent of `span`, which then continues that
/// trace; without one, `span` keeps the parent it was created with.
pub fn set_parent(span: &Span, traceparent: Option<&str>) {
    if let Some(parent) = traceparent.and_then(decode) {
        // Refused only for a span that is not traced or already started: then there is no
        // parent to set, and the span stays as it is.
        let _ = span.set_parent(Context::new().with_remote_span_context(parent));
    }
}

/// Links `span` to the span named by `traceparent`: related to it without being its child.
pub fn add_link(span: &Span, traceparent: Option<&str>) {
    if let Some(linked) = traceparent.and_then(decode) {
        span.add_link(linked);
    }
}

/// A `traceparent` for a hop in a process without telemetry, so that the trace still goes
/// on: a new span id in `incoming`'s trace, or a new trace when there is none.
pub fn untraced_child(incoming: Option<&str>) -> String {
    let ids = RandomIdGenerator::default();
    let (trace_id, flags, state) = match incoming.and_then(decode) {
        Some(parent) => (
            parent.trace_id(),
            parent.trace_flags(),
            parent.trace_state().clone(),
        ),
        None => (
            ids.new_trace_id(),
            TraceFlags::SAMPLED,
            TraceState::default(),
        ),
    };
    let child = SpanContext::new(trace_id, ids.new_span_id(), flags, false, state);
    encode(&Context::new().with_remote_span_context(child)).unwrap_or_default()
}

/// The span context `traceparent` names, when it is well formed.
fn decode(traceparent: &str) -> Option<SpanContext> {
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| span_context.clone())
}

fn encode(context: &Context) -> Option<String> {
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INCOMING: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn an_untraced_hop_keeps_the_callers_trace_with_a_span_of_its_own() {
        let child = untraced_child(Some(INCOMING));
        assert!(
            child.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{child}"
        );
        assert!(child.ends_with("-01"), "{child}");
        assert_ne!(child, INCOMING);
        assert!(decode(&child).is_some(), "{child}");
    }

    #[test]
    fn malformed_traceparents_start_a_new_trace() {
        for bad in [
            "",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-xyz-00f067aa0ba902b7-01",
        ] {
            assert!(decode(bad).is_none(), "{bad}");
            let fresh = untraced_child(Some(bad));
            let parts: Vec<&str> = fresh.split('-').collect();
            assert_eq!(parts.len(), 4, "{fresh}");
            assert_eq!(
                (parts[0], parts[1].len(), parts[2].len(), parts[3]),
                ("00", 32, 16, "01"),
                "{fresh}"
            );
            assert_ne!(parts[1], "4bf92f3577b34da6a3ce929d0e0e4736");
            assert!(decode(&fresh).is_some(), "{fresh}");
        }
        assert_ne!(untraced_child(None), untraced_child(None));
    }

    #[test]
    fn spans_are_untraced_without_telemetry() {
        let span = tracing::info_span!("command.publish", otel.kind = "producer");
        set_parent(&span, Some(INCOMING));
        add_link(&span, Some(INCOMING));
        assert_eq!(traceparent(&span), None);
    }
}
