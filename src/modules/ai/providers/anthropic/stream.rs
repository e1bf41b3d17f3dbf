//! Anthropic's event stream: `message_start` (model, input usage), `content_block_start` /
//! `content_block_delta` (`text_delta`, `input_json_delta`) / `content_block_stop`,
//! `message_delta` (stop reason, output usage), `message_stop`, plus `ping` and `error`.

use std::collections::HashSet;

use serde_json::Value;

use super::{
    super::{
        error::ProviderError,
        provider::settle_finish,
        sse::SseEvent,
        stream::{Flow, StreamDecoder, ToolCallAssembler},
        types::{FinishReason, StreamEvent, Usage},
    },
    wire::{JSON_TOOL, WireUsage, error_details, finish_reason, stream_error},
};

pub(super) struct AnthropicDecoder {
    usage: Usage,
    tools: ToolCallAssembler,
    /// Block indexes of the forced JSON tool, whose input is streamed as answer text.
    json_blocks: HashSet<u64>,
    json_tool: bool,
    stop_reason: Option<String>,
}

impl AnthropicDecoder {
    pub fn new(usage: Usage, json_tool: bool) -> Self {
        AnthropicDecoder {
            usage,
            tools: ToolCallAssembler::default(),
            json_blocks: HashSet::new(),
            json_tool,
            stop_reason: None,
        }
    }

    fn apply_usage(&mut self, value: Option<&Value>) -> Result<(), ProviderError> {
        if let Some(value) = value {
            let usage: WireUsage = serde_json::from_value(value.clone())
                .map_err(|e| ProviderError::protocol(format!("unexpected usage: {e}")))?;
            usage.apply(&mut self.usage);
        }
        Ok(())
    }
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

impl StreamDecoder for AnthropicDecoder {
    fn on_event(
        &mut self,
        event: SseEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Flow, ProviderError> {
        let data: Value = serde_json::from_str(&event.data)
            .map_err(|e| ProviderError::protocol(format!("a stream event is not JSON: {e}")))?;
        let kind = str_at(&data, "/type").unwrap_or(event.event.as_str()).to_string();
        let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
        match kind.as_str() {
            "message_start" => {
                if let Some(model) = str_at(&data, "/message/model").filter(|m| !m.is_empty()) {
                    self.usage.model = model.to_string();
                }
                self.apply_usage(data.pointer("/message/usage"))?;
            }
            "content_block_start" => {
                let block = data.get("content_block").unwrap_or(&Value::Null);
                match str_at(block, "/type") {
                    Some("text") => {
                        if let Some(text) = str_at(block, "/text").filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::TextDelta { text: text.to_string() });
                        }
                    }
                    Some("tool_use") => {
                        let name = str_at(block, "/name").unwrap_or_default();
                        if self.json_tool && name == JSON_TOOL {
                            self.json_blocks.insert(index);
                        } else {
                            self.tools.push(index, str_at(block, "/id"), Some(name), "");
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => match str_at(&data, "/delta/type") {
                Some("text_delta") => {
                    if let Some(text) = str_at(&data, "/delta/text").filter(|t| !t.is_empty()) {
                        out.push(StreamEvent::TextDelta { text: text.to_string() });
                    }
                }
                Some("input_json_delta") => {
                    let part = str_at(&data, "/delta/partial_json").unwrap_or_default();
                    if self.json_blocks.contains(&index) {
                        if !part.is_empty() {
                            out.push(StreamEvent::TextDelta { text: part.to_string() });
                        }
                    } else {
                        self.tools.push(index, None, None, part);
                    }
                }
                // Thinking and signature deltas are not part of the answer.
                _ => {}
            },
            "message_delta" => {
                if let Some(reason) = str_at(&data, "/delta/stop_reason") {
                    self.stop_reason = Some(reason.to_string());
                }
                self.apply_usage(data.get("usage"))?;
            }
            "message_stop" => return Ok(Flow::Done),
            "error" => return Err(stream_error(error_details(event.data.as_bytes()))),
            // `ping`, `content_block_stop`, and event types added later are ignored, as the
            // API documentation asks of clients.
            _ => {}
        }
        Ok(Flow::Continue)
    }

    fn finish(
        &mut self,
        terminated: bool,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ProviderError> {
        if !terminated {
            return Err(ProviderError::Unavailable {
                message: "the stream ended before `message_stop`".into(),
            });
        }
        let calls = self.tools.finish()?;
        let reason: FinishReason = finish_reason(self.stop_reason.as_deref(), self.json_tool);
        let reason = settle_finish(reason, !calls.is_empty());
        out.extend(calls.into_iter().map(StreamEvent::ToolCall));
        out.push(StreamEvent::Usage(self.usage.clone()));
        out.push(StreamEvent::Finish { reason });
        Ok(())
    }

    fn usage(&self) -> &Usage {
        &self.usage
    }
}
