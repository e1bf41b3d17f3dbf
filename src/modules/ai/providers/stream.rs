//! Turns a provider's SSE events into [`StreamEvent`]s through a per-provider decoder, and
//! collects a stream back into a [`ChatResponse`].

use std::collections::{BTreeMap, VecDeque};

use futures_util::{StreamExt, stream::BoxStream};
use serde_json::Value;

use super::{
    error::ProviderError,
    sse::SseEvent,
    types::{ChatResponse, ChatStream, FinishReason, StreamEvent, ToolCall, Usage},
};

/// Whether the provider has said its last word.
pub(crate) enum Flow {
    Continue,
    Done,
}

/// One provider's reading of its event stream.
pub(crate) trait StreamDecoder: Send + 'static {
    /// Reads one SSE event, pushing what it completes.
    fn on_event(
        &mut self,
        event: SseEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Flow, ProviderError>;

    /// The stream is over: `terminated` says whether the provider's end marker was seen. Pushes
    /// the assembled tool calls, the usage and the finish reason.
    fn finish(&mut self, terminated: bool, out: &mut Vec<StreamEvent>)
    -> Result<(), ProviderError>;

    /// The usage reported so far.
    fn usage(&self) -> &Usage;
}

pub(crate) fn decode<D: StreamDecoder>(
    events: BoxStream<'static, Result<SseEvent, ProviderError>>,
    decoder: D,
) -> ChatStream {
    struct State<D> {
        events: BoxStream<'static, Result<SseEvent, ProviderError>>,
        decoder: D,
        queue: VecDeque<Result<StreamEvent, ProviderError>>,
        done: bool,
        /// Part of the answer went out: a failure now still cost tokens.
        answered: bool,
    }
    let state = State { events, decoder, queue: VecDeque::new(), done: false, answered: false };
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(item) = st.queue.pop_front() {
                return Some((item, st));
            }
            if st.done {
                return None;
            }
            let mut out = Vec::new();
            let outcome = match st.events.next().await {
                Some(Ok(event)) => match st.decoder.on_event(event, &mut out) {
                    Ok(Flow::Continue) => Ok(false),
                    Ok(Flow::Done) => st.decoder.finish(true, &mut out).map(|()| true),
                    Err(err) => Err(err),
                },
                Some(Err(err)) => Err(err),
                None => st.decoder.finish(false, &mut out).map(|()| true),
            };
            st.answered |= out
                .iter()
                .any(|e| matches!(e, StreamEvent::TextDelta { .. } | StreamEvent::ToolCall(_)));
            st.queue.extend(out.into_iter().map(Ok));
            match outcome {
                Ok(finished) => st.done = finished,
                Err(err) => {
                    if st.answered {
                        let usage = Usage { partial: true, ..st.decoder.usage().clone() };
                        st.queue.push_back(Ok(StreamEvent::Usage(usage)));
                    }
                    st.queue.push_back(Err(err));
                    st.done = true;
                }
            }
        }
    })
    .boxed()
}

/// Tool calls assembled from fragments, keyed by the provider's index.
#[derive(Debug, Default)]
pub(crate) struct ToolCallAssembler {
    calls: BTreeMap<u64, PartialCall>,
}

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

impl ToolCallAssembler {
    /// Adds what a delta carries: arguments arrive in pieces, the id and name whole in the
    /// first delta. Some compatible servers repeat them in later deltas, so only the first
    /// counts.
    pub fn push(&mut self, index: u64, id: Option<&str>, name: Option<&str>, arguments: &str) {
        let call = self.calls.entry(index).or_default();
        if let Some(id) = id.filter(|s| !s.is_empty() && call.id.is_empty()) {
            call.id = id.to_string();
        }
        if let Some(name) = name.filter(|s| !s.is_empty() && call.name.is_empty()) {
            call.name = name.to_string();
        }
        call.arguments.push_str(arguments);
    }

    pub fn finish(&mut self) -> Result<Vec<ToolCall>, ProviderError> {
        std::mem::take(&mut self.calls)
            .into_values()
            .map(|c| {
                Ok(ToolCall {
                    arguments: parse_arguments(&c.name, &c.arguments)?,
                    id: c.id,
                    name: c.name,
                })
            })
            .collect()
    }
}

/// Tool arguments arrive as JSON text; an empty text means no arguments.
pub(crate) fn parse_arguments(tool: &str, text: &str) -> Result<Value, ProviderError> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_str(text).map_err(|e| {
        ProviderError::protocol(format!("the arguments of tool call `{tool}` are not JSON: {e}"))
    })
}

/// Reads a whole stream into one response, e.g. for callers that stream to a user and also
/// store the complete reply.
pub async fn collect(mut stream: ChatStream) -> Result<ChatResponse, ProviderError> {
    let mut content = String::new();
    let mut tool_calls = Vec::new();
    let mut usage: Option<Usage> = None;
    let mut finish: Option<FinishReason> = None;
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::TextDelta { text } => content.push_str(&text),
            StreamEvent::ToolCall(call) => tool_calls.push(call),
            StreamEvent::Usage(u) => usage = Some(u),
            StreamEvent::Finish { reason } => finish = Some(reason),
        }
    }
    match (usage, finish) {
        (Some(usage), Some(finish_reason)) => {
            Ok(ChatResponse { content, tool_calls, finish_reason, usage })
        }
        _ => Err(ProviderError::protocol("the stream ended without usage and finish events")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tool_calls_are_assembled_per_index_and_first_id_and_name_win() {
        let mut calls = ToolCallAssembler::default();
        calls.push(1, Some("call_b"), Some("lookup"), "");
        calls.push(0, Some("call_a"), Some("get_weather"), "{\"city\":");
        calls.push(0, Some("call_a"), Some("get_weather"), " \"Rome\"}");
        calls.push(1, None, None, "");

        assert_eq!(
            calls.finish().unwrap(),
            vec![
                ToolCall {
                    id: "call_a".into(),
                    name: "get_weather".into(),
                    arguments: json!({"city": "Rome"})
                },
                ToolCall { id: "call_b".into(), name: "lookup".into(), arguments: json!({}) },
            ]
        );
    }

    #[test]
    fn broken_arguments_are_a_protocol_error() {
        let mut calls = ToolCallAssembler::default();
        calls.push(0, Some("c"), Some("f"), "{\"a\": ");
        assert!(matches!(calls.finish(), Err(ProviderError::Protocol { .. })));
    }

    #[test]
    fn events_serialize_with_a_type_tag_for_websocket_clients() {
        let delta = serde_json::to_value(StreamEvent::TextDelta { text: "Hi".into() }).unwrap();
        assert_eq!(delta, json!({"type": "text_delta", "text": "Hi"}));
        let call = StreamEvent::ToolCall(ToolCall {
            id: "c".into(),
            name: "f".into(),
            arguments: json!({}),
        });
        let value = serde_json::to_value(&call).unwrap();
        assert_eq!(value, json!({"type": "tool_call", "id": "c", "name": "f", "arguments": {}}));
        assert_eq!(serde_json::from_value::<StreamEvent>(value).unwrap(), call);
        let finish =
            serde_json::to_value(StreamEvent::Finish { reason: FinishReason::ToolCalls }).unwrap();
        assert_eq!(finish, json!({"type": "finish", "reason": "tool_calls"}));
    }
}
