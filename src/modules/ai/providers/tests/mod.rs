//! Providers against fake servers that answer in each provider's documented wire format.

mod anthropic;
mod compatible;
mod fallback;
mod gemini;
mod openai;
mod openai_media;
mod registry;
mod reliability;
mod retries;
mod support;
