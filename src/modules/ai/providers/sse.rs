//! A server-sent events parser (the WHATWG `text/event-stream` format) that accepts bytes in
//! chunks split anywhere, and the adapter that turns a response body into events with an idle
//! timeout between chunks.

use std::{collections::VecDeque, mem, time::Duration};

use bytes::Bytes;
use futures_util::{StreamExt, stream::BoxStream};

use super::{error::ProviderError, transport::describe};

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; empty when the server sent none (the spec's default `message`).
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last `id:` seen on the stream, if any.
    pub id: Option<String>,
}

#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    /// The previous chunk ended in CR: an LF starting the next one is the same line break.
    after_cr: bool,
    seen_first_line: bool,
    event: String,
    data: String,
    has_data: bool,
    id: Option<String>,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes a chunk and returns the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for &byte in chunk {
            if mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\n' => self.end_line(&mut out),
                b'\r' => {
                    self.end_line(&mut out);
                    self.after_cr = true;
                }
                _ => self.line.push(byte),
            }
        }
        out
    }

    /// The body ended. The spec drops an event without its closing blank line; providers' last
    /// event sometimes lacks it, so it is kept.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut out);
        }
        self.dispatch(&mut out);
        out
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let raw = mem::take(&mut self.line);
        let mut line = String::from_utf8_lossy(&raw).into_owned();
        if !mem::replace(&mut self.seen_first_line, true) && line.starts_with('\u{feff}') {
            line.remove(0);
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.id = Some(value.to_string()),
            // `retry` only concerns browsers reconnecting; unknown fields are ignored by spec.
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = mem::take(&mut self.event);
        if mem::take(&mut self.has_data) {
            out.push(SseEvent { event, data: mem::take(&mut self.data), id: self.id.clone() });
        }
    }
}

/// The events of a streamed response body. A chunk must arrive within `idle` of the previous
/// one, or the stream ends with [`ProviderError::Timeout`].
pub(crate) fn sse_events(
    response: reqwest::Response,
    idle: Duration,
) -> BoxStream<'static, Result<SseEvent, ProviderError>> {
    struct State {
        body: BoxStream<'static, reqwest::Result<Bytes>>,
        parser: SseParser,
        queue: VecDeque<SseEvent>,
        done: bool,
        idle: Duration,
    }
    let state = State {
        body: response.bytes_stream().boxed(),
        parser: SseParser::new(),
        queue: VecDeque::new(),
        done: false,
        idle,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(event) = st.queue.pop_front() {
                return Some((Ok(event), st));
            }
            if st.done {
                return None;
            }
            match tokio::time::timeout(st.idle, st.body.next()).await {
                Ok(Some(Ok(chunk))) => {
                    let events = st.parser.feed(&chunk);
                    st.queue.extend(events);
                }
                Ok(None) => {
                    st.done = true;
                    let events = st.parser.finish();
                    st.queue.extend(events);
                }
                Ok(Some(Err(err))) => {
                    st.done = true;
                    let error = if err.is_timeout() {
                        ProviderError::Timeout
                    } else {
                        ProviderError::Unavailable {
                            message: format!("the stream broke: {}", describe(err)),
                        }
                    };
                    return Some((Err(error), st));
                }
                Err(_) => {
                    st.done = true;
                    return Some((Err(ProviderError::Timeout), st));
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent { event: event.into(), data: data.into(), id: id.map(Into::into) }
    }

    fn parse_in_chunks(input: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
            out.extend(parser.feed(&input[start..cut]));
            start = cut;
        }
        out.extend(parser.finish());
        out
    }

    const STREAM: &str = "\u{feff}: a comment\r\n\
        event: message_start\r\n\
        data: {\"a\":1}\r\n\
        \r\n\
        data: first line\n\
        data:second line\n\
        data\n\
        id: 42\n\
        retry: 1000\n\
        \n\
        event: only-a-name\n\
        \n\
        event: ping\rdata: {}\r\r\
        data: é – unicode\n\n";

    fn expected() -> Vec<SseEvent> {
        vec![
            ev("message_start", "{\"a\":1}", None),
            ev("", "first line\nsecond line\n", Some("42")),
            ev("ping", "{}", Some("42")),
            ev("", "é – unicode", Some("42")),
        ]
    }

    #[test]
    fn parses_the_whole_stream_at_once() {
        assert_eq!(parse_in_chunks(STREAM.as_bytes(), &[]), expected());
    }

    #[test]
    fn every_single_split_point_gives_the_same_events() {
        let bytes = STREAM.as_bytes();
        for cut in 1..bytes.len() {
            assert_eq!(parse_in_chunks(bytes, &[cut]), expected(), "split at byte {cut}");
        }
    }

    #[test]
    fn byte_by_byte_gives_the_same_events() {
        let bytes = STREAM.as_bytes();
        let cuts: Vec<usize> = (1..bytes.len()).collect();
        assert_eq!(parse_in_chunks(bytes, &cuts), expected());
    }

    #[test]
    fn crlf_split_between_cr_and_lf_is_one_line_break() {
        let events = parse_in_chunks(b"data: a\r\n\r\ndata: b\r\n\r\n", &[8, 11]);
        assert_eq!(events, vec![ev("", "a", None), ev("", "b", None)]);
    }

    #[test]
    fn a_last_event_without_blank_line_is_kept() {
        assert_eq!(parse_in_chunks(b"data: [DONE]", &[]), vec![ev("", "[DONE]", None)]);
        assert_eq!(parse_in_chunks(b"data: x\n", &[]), vec![ev("", "x", None)]);
        assert!(parse_in_chunks(b": only a comment\n", &[]).is_empty());
    }
}
