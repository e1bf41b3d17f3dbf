//! Gemini's `streamGenerateContent?alt=sse`: every `data:` event is a whole
//! `GenerateContentResponse` holding the next piece of text, whole function calls, and the usage
//! so far. There is no end marker; the last chunk carries `finishReason`.

use serde_json::Value;

use super::{
    super::{
        error::ProviderError,
        provider::settle_finish,
        sse::SseEvent,
        stream::{Flow, StreamDecoder},
        types::{FinishReason, StreamEvent, ToolCall, Usage},
    },
    wire::{GenerateResponse, stream_error},
};

pub(super) struct GeminiDecoder {
    usage: Usage,
    calls: Vec<ToolCall>,
    finish: Option<FinishReason>,
}

impl GeminiDecoder {
    pub fn new(usage: Usage) -> Self {
        GeminiDecoder { usage, calls: Vec::new(), finish: None }
    }
}

impl StreamDecoder for GeminiDecoder {
    fn on_event(
        &mut self,
        event: SseEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Flow, ProviderError> {
        if event.data.trim().is_empty() {
            return Ok(Flow::Continue);
        }
        let value: Value = serde_json::from_str(&event.data)
            .map_err(|e| ProviderError::protocol(format!("a stream chunk is not JSON: {e}")))?;
        if value.get("error").is_some() {
            return Err(stream_error(&value));
        }
        let chunk: GenerateResponse = serde_json::from_value(value)
            .map_err(|e| ProviderError::protocol(format!("unexpected stream chunk: {e}")))?;
        let reading = chunk.read(&mut self.usage)?;
        if !reading.text.is_empty() {
            out.push(StreamEvent::TextDelta { text: reading.text });
        }
        self.calls.extend(reading.tool_calls);
        if reading.finish.is_some() {
            self.finish = reading.finish;
        }
        Ok(Flow::Continue)
    }

    fn finish(
        &mut self,
        _terminated: bool,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ProviderError> {
        let Some(reason) = self.finish.take() else {
            return Err(ProviderError::Unavailable {
                message: "the stream ended before a chunk with `finishReason`".into(),
            });
        };
        let reason = settle_finish(reason, !self.calls.is_empty());
        out.extend(self.calls.drain(..).map(StreamEvent::ToolCall));
        out.push(StreamEvent::Usage(self.usage.clone()));
        out.push(StreamEvent::Finish { reason });
        Ok(())
    }

    fn usage(&self) -> &Usage {
        &self.usage
    }
}
