//! The agent runtime: retrieval from the agent's knowledge bases, the model call, the tool loop
//! with its iteration cap, usage recording and citations. Chat jobs stream its events to
//! WebSocket clients; [`run_agent`] is the plain call a workflow step makes.

pub mod events;
pub mod tools;

use std::time::Instant;

use async_trait::async_trait;
use futures_util::{FutureExt, StreamExt};
use uuid::Uuid;

use self::events::{ChatEvent, Citation, ToolCallRecord};
use super::{
    agents::{config::AgentConfig, repo},
    knowledge::search::{self, SearchHit},
    providers::{
        ChatRequest, FinishReason, Message, Operation, ProviderError, StreamEvent, ToolChoice,
    },
    state::chat_provider,
    usage::ledger::{self, CallContext, UsageTotals},
};
use crate::{error::AppError, state::AppState};

/// What an agent is asked.
#[derive(Debug, Clone, Default)]
pub struct AgentInput {
    pub message: String,
    /// Earlier turns (user and assistant messages), oldest first.
    pub history: Vec<Message>,
    /// Who the call is for (recorded in the usage ledger).
    pub user_id: Option<Uuid>,
    pub message_id: Option<Uuid>,
}

/// What it answered.
#[derive(Debug, Clone)]
pub struct AgentOutput {
    pub content: String,
    pub citations: Vec<Citation>,
    pub tool_calls: Vec<ToolCallRecord>,
    pub usage: UsageTotals,
    pub finish_reason: FinishReason,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<sqlx::Error> for RunError {
    fn from(e: sqlx::Error) -> Self {
        RunError::App(e.into())
    }
}

/// Receives events as the answer is produced; `flush` is called after each burst of events.
#[async_trait]
pub trait EventSink: Send {
    async fn emit(&mut self, event: ChatEvent) -> Result<(), AppError>;
    async fn flush(&mut self) -> Result<(), AppError>;
}

/// A sink that drops everything (callers that only want the result).
pub struct Discard;

#[async_trait]
impl EventSink for Discard {
    async fn emit(&mut self, _event: ChatEvent) -> Result<(), AppError> {
        Ok(())
    }
    async fn flush(&mut self) -> Result<(), AppError> {
        Ok(())
    }
}

/// The numbered sources an answer may cite.
#[derive(Debug, Default)]
pub struct Sources(Vec<SearchHit>);

impl Sources {
    /// Adds a hit (once) and returns it formatted for the model as `[n] title\ntext`.
    pub fn add(&mut self, hit: SearchHit) -> String {
        let index = match self.0.iter().position(|h| h.chunk_id == hit.chunk_id) {
            Some(i) => i + 1,
            None => {
                self.0.push(hit);
                self.0.len()
            }
        };
        let h = &self.0[index - 1];
        format!("[{index}] {}\n{}", h.document_title, h.content)
    }

    /// The sources `content` cites as `[n]`, in order of first citation.
    pub fn cited(&self, content: &str) -> Vec<Citation> {
        let mut out: Vec<Citation> = Vec::new();
        for n in markers(content) {
            let Some(h) = self.0.get(n.wrapping_sub(1)) else { continue };
            if out.iter().any(|c| c.index == n) {
                continue;
            }
            out.push(Citation {
                index: n,
                chunk_id: h.chunk_id,
                document_id: h.document_id,
                document_title: h.document_title.clone(),
                knowledge_base_id: h.knowledge_base_id,
                start_offset: h.start_offset,
                end_offset: h.end_offset,
                snippet: h.content.chars().take(200).collect(),
            });
        }
        out
    }
}

/// Numbers written as `[n]`.
fn markers(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        rest = &rest[open + 1..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty()
            && rest[digits.len()..].starts_with(']')
            && let Ok(n) = digits.parse()
        {
            out.push(n);
        }
    }
    out
}

fn system_prompt(
    config: &AgentConfig,
    sources: &mut Sources,
    retrieved: Vec<SearchHit>,
) -> Option<String> {
    let mut system = config.system_prompt.trim().to_string();
    if !retrieved.is_empty() {
        let listed: Vec<String> = retrieved.into_iter().map(|h| sources.add(h)).collect();
        system.push_str(&format!(
            "\n\nUse the numbered sources below when they help. Cite every source you use with \
             its number in square brackets, like [1]. If they do not contain the answer, say so.\n\n\
             Sources:\n{}",
            listed.join("\n\n")
        ));
    }
    (!system.trim().is_empty()).then(|| system.trim().to_string())
}

/// Runs agent `agent_id` of `workspace` once, without streaming: the entry point for workflow
/// steps and other server-side callers. Budget, usage and the tool loop apply as in chat.
pub async fn run_agent(
    state: &AppState,
    workspace: Uuid,
    agent_id: Uuid,
    input: AgentInput,
) -> Result<AgentOutput, RunError> {
    let agent = repo::find(state, workspace, agent_id).await?;
    let started = Instant::now();
    let result = run(state, workspace, agent_id, &agent.configuration, input, &mut Discard).await;
    metrics::histogram!("ai_processing_duration_seconds", "operation" => "agent", "outcome" => if result.is_ok() { "ok" } else { "error" })
        .record(started.elapsed().as_secs_f64());
    result
}

/// The answer of an agent with `config` to `input`, reporting events to `sink`.
pub async fn run(
    state: &AppState,
    workspace: Uuid,
    agent_id: Uuid,
    config: &AgentConfig,
    input: AgentInput,
    sink: &mut dyn EventSink,
) -> Result<AgentOutput, RunError> {
    let ctx = CallContext {
        workspace,
        user: input.user_id,
        agent: Some(agent_id),
        message: input.message_id,
    };
    let provider = chat_provider(state, workspace, config.provider.as_deref()).await?;
    let targets = provider.targets(Operation::Chat, config.model.as_deref());
    let mut sources = Sources::default();
    let retrieved = if config.knowledge_bases.is_empty() {
        Vec::new()
    } else {
        let q = search::Query {
            text: input.message.clone(),
            top_k: state.settings.ai.chat.retrieval_top_k,
            filter: serde_json::json!({}),
            document_ids: None,
            min_score: 0.0,
            min_similarity: state.settings.ai.chat.retrieval_min_similarity,
        };
        search::search(state, &ctx, &config.knowledge_bases, &q).await?.hits
    };
    let mut messages = input.history;
    messages.push(Message::user(input.message));
    let mut req = ChatRequest {
        model: config.model.clone(),
        system: system_prompt(config, &mut sources, retrieved),
        messages,
        temperature: config.temperature,
        max_tokens: config.max_tokens,
        tools: tools::specs(config),
        ..ChatRequest::default()
    };
    let mut content = String::new();
    let mut usage = UsageTotals::default();
    let mut records = Vec::new();
    let max_calls = config.max_tool_iterations.min(state.settings.ai.tools.max_iterations).max(1);
    let mut finish = FinishReason::Stop;
    for call in 1..=max_calls {
        if !req.tools.is_empty() {
            // The last call must answer in words.
            req.tool_choice =
                Some(if call == max_calls { ToolChoice::None } else { ToolChoice::Auto });
        }
        ledger::ensure_budget(state, workspace, &targets).await?;
        let turn = stream_turn(state, &ctx, &*provider, &req, sink, &mut usage).await?;
        content.push_str(&turn.text);
        finish = turn.finish;
        // Calls asked for on the last allowed turn are not run: nothing could read their results.
        if turn.calls.is_empty() || call == max_calls {
            break;
        }
        req.messages.push(Message::assistant_tool_calls(turn.text, turn.calls.clone()));
        for c in turn.calls {
            let outcome =
                tools::call(state, &ctx, config, &mut sources, &c.name, &c.arguments).await;
            let (text, is_error) = match outcome {
                Ok(t) => (t, false),
                Err(e) => (e, true),
            };
            let record = ToolCallRecord {
                id: c.id.clone(),
                name: c.name.clone(),
                arguments: c.arguments.clone(),
                is_error,
                result_preview: text.chars().take(300).collect(),
            };
            sink.emit(ChatEvent::ToolCall(record.clone())).await?;
            records.push(record);
            req.messages.push(if is_error {
                Message::tool_error(c.id, c.name, text)
            } else {
                Message::tool_result(c.id, c.name, text)
            });
        }
        sink.flush().await?;
    }
    let citations = sources.cited(&content);
    for c in &citations {
        sink.emit(ChatEvent::Citation(c.clone())).await?;
    }
    sink.flush().await?;
    Ok(AgentOutput { content, citations, tool_calls: records, usage, finish_reason: finish })
}

struct Turn {
    text: String,
    calls: Vec<super::providers::ToolCall>,
    finish: FinishReason,
}

/// One streamed model call. Events that are ready together are flushed together, so a burst of
/// tokens costs one write and one publish.
async fn stream_turn(
    state: &AppState,
    ctx: &CallContext,
    provider: &dyn super::providers::LlmProvider,
    req: &ChatRequest,
    sink: &mut dyn EventSink,
    totals: &mut UsageTotals,
) -> Result<Turn, RunError> {
    let mut stream = provider.chat_stream(req).await?;
    let mut turn = Turn { text: String::new(), calls: Vec::new(), finish: FinishReason::Stop };
    let mut ended = false;
    while !ended {
        let mut burst = Vec::new();
        match stream.next().await {
            Some(item) => burst.push(item),
            None => ended = true,
        }
        while burst.len() < 256 && !ended {
            match stream.next().now_or_never() {
                Some(Some(item)) => burst.push(item),
                Some(None) => ended = true,
                None => break,
            }
        }
        for item in burst {
            match item? {
                StreamEvent::TextDelta { text } => {
                    turn.text.push_str(&text);
                    sink.emit(ChatEvent::Token { text }).await?;
                }
                StreamEvent::ToolCall(call) => turn.calls.push(call),
                StreamEvent::Usage(mut usage) => {
                    // A stream that broke off still spent tokens: what the provider did not
                    // report yet is estimated, so budgets see it.
                    let estimated = usage.partial && estimate(&mut usage, req, &turn.text);
                    let cost = ledger::record(state, ctx, "chat", &usage, estimated).await?;
                    totals.add(&usage, &cost);
                }
                StreamEvent::Finish { reason } => turn.finish = reason,
            }
        }
        sink.flush().await?;
    }
    Ok(turn)
}

/// Fills in the tokens `usage` lacks from the text sent and received, at about four characters
/// a token; says whether anything was estimated.
fn estimate(usage: &mut super::providers::Usage, req: &ChatRequest, answered: &str) -> bool {
    let tokens = |chars: usize| (chars as u64).div_ceil(4);
    let mut estimated = false;
    if usage.input_tokens == 0 {
        let sent = req.system.as_deref().map_or(0, |s| s.chars().count())
            + req.messages.iter().map(|m| m.content.chars().count()).sum::<usize>();
        usage.input_tokens = tokens(sent);
        estimated = true;
    }
    if usage.output_tokens == 0 {
        usage.output_tokens = tokens(answered.chars().count());
        estimated = true;
    }
    estimated
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_stream_is_billed_for_what_it_sent_and_received() {
        let req = ChatRequest {
            system: Some("Be brief.".into()),
            messages: vec![Message::user("What time is it?")],
            ..ChatRequest::default()
        };
        let kind = super::super::providers::ProviderKind::OpenAi;
        let mut nothing = super::super::providers::Usage::new("openai", kind, "gpt-4o");
        assert!(estimate(&mut nothing, &req, "It is ten"));
        // 9 + 16 characters sent, 9 received.
        assert_eq!((nothing.input_tokens, nothing.output_tokens), (7, 3));
        let mut reported = super::super::providers::Usage::new("openai", kind, "gpt-4o");
        reported.input_tokens = 40;
        reported.output_tokens = 2;
        assert!(!estimate(&mut reported, &req, "It is ten"));
        assert_eq!((reported.input_tokens, reported.output_tokens), (40, 2));
    }

    #[test]
    fn citation_markers() {
        assert_eq!(markers("See [1] and [12], not [x] or [3 ]. [2]"), vec![1, 12, 2]);
        assert!(markers("no brackets").is_empty());
    }
}
