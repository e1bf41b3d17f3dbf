//! OpenAI's streamed chat completion: `data:` chunks, tool call arguments in pieces keyed by
//! index, a last chunk with empty `choices` carrying usage, then `data: [DONE]`.

use serde::Deserialize;
use serde_json::Value;

use super::{
    super::{
        error::ProviderError,
        provider::settle_finish,
        sse::SseEvent,
        stream::{Flow, StreamDecoder, ToolCallAssembler},
        types::{FinishReason, StreamEvent, Usage},
    },
    wire::{WireUsage, error_details, finish_reason, stream_error},
};

pub(super) struct OpenAiDecoder {
    usage: Usage,
    tools: ToolCallAssembler,
    finish: Option<FinishReason>,
}

impl OpenAiDecoder {
    pub fn new(usage: Usage) -> Self {
        OpenAiDecoder { usage, tools: ToolCallAssembler::default(), finish: None }
    }
}

#[derive(Debug, Deserialize)]
struct Chunk {
    model: Option<String>,
    #[serde(default)]
    choices: Option<Vec<ChunkChoice>>,
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    index: u64,
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Delta {
    content: Option<String>,
    tool_calls: Option<Vec<ToolDelta>>,
}

#[derive(Debug, Deserialize)]
struct ToolDelta {
    #[serde(default)]
    index: u64,
    id: Option<String>,
    function: Option<FunctionDelta>,
}

#[derive(Debug, Deserialize)]
struct FunctionDelta {
    name: Option<String>,
    arguments: Option<String>,
}

impl StreamDecoder for OpenAiDecoder {
    fn on_event(
        &mut self,
        event: SseEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Flow, ProviderError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok(Flow::Done);
        }
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        let value: Value = serde_json::from_str(data)
            .map_err(|e| ProviderError::protocol(format!("a stream chunk is not JSON: {e}")))?;
        if value.get("error").is_some() {
            return Err(stream_error(error_details(data.as_bytes())));
        }
        let chunk: Chunk = serde_json::from_value(value)
            .map_err(|e| ProviderError::protocol(format!("unexpected stream chunk: {e}")))?;
        if let Some(model) = chunk.model.filter(|m| !m.is_empty()) {
            self.usage.model = model;
        }
        // Only the first choice is asked for (no `n`), so others are not expected.
        for choice in chunk.choices.unwrap_or_default().into_iter().filter(|c| c.index == 0) {
            if let Some(delta) = choice.delta {
                if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::TextDelta { text });
                }
                for call in delta.tool_calls.unwrap_or_default() {
                    let function = call.function.as_ref();
                    self.tools.push(
                        call.index,
                        call.id.as_deref(),
                        function.and_then(|f| f.name.as_deref()),
                        function.and_then(|f| f.arguments.as_deref()).unwrap_or(""),
                    );
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.finish = Some(finish_reason(Some(&reason)));
            }
        }
        if let Some(usage) = chunk.usage {
            usage.apply(&mut self.usage);
        }
        Ok(Flow::Continue)
    }

    fn finish(
        &mut self,
        terminated: bool,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ProviderError> {
        // Some compatible servers close without `[DONE]`; a finish reason is proof enough.
        if !terminated && self.finish.is_none() {
            return Err(ProviderError::Unavailable {
                message: "the stream ended before `data: [DONE]`".into(),
            });
        }
        let calls = self.tools.finish()?;
        let reason =
            settle_finish(self.finish.take().unwrap_or(FinishReason::Stop), !calls.is_empty());
        out.extend(calls.into_iter().map(StreamEvent::ToolCall));
        out.push(StreamEvent::Usage(self.usage.clone()));
        out.push(StreamEvent::Finish { reason });
        Ok(())
    }

    fn usage(&self) -> &Usage {
        &self.usage
    }
}
