//! OpenAI's Embeddings and Image generation JSON.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    super::{
        error::ProviderError,
        transport::parse_json,
        types::{EmbedRequest, GeneratedImage, ImageData, ImageFormat, ImageRequest, Usage},
    },
    wire::WireUsage,
};

pub(super) fn embed_body(req: &EmbedRequest, model: &str) -> Value {
    let mut body = json!({"model": model, "input": req.inputs, "encoding_format": "float"});
    if let Some(d) = req.dimensions {
        body["dimensions"] = json!(d);
    }
    body
}

#[derive(Debug, Deserialize)]
struct Embeddings {
    data: Vec<Embedding>,
    model: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
struct Embedding {
    #[serde(default)]
    index: usize,
    embedding: Vec<f32>,
}

pub(super) fn parse_embeddings(
    body: &[u8],
    expected: usize,
    mut usage: Usage,
) -> Result<(Vec<Vec<f32>>, Usage), ProviderError> {
    let mut answer: Embeddings = parse_json("embeddings", body)?;
    if answer.data.len() != expected {
        return Err(ProviderError::protocol(format!(
            "asked for {expected} embeddings, got {}",
            answer.data.len()
        )));
    }
    answer.data.sort_by_key(|e| e.index);
    if let Some(model) = answer.model.filter(|m| !m.is_empty()) {
        usage.model = model;
    }
    if let Some(u) = answer.usage {
        u.apply(&mut usage);
    }
    Ok((answer.data.into_iter().map(|e| e.embedding).collect(), usage))
}

pub(super) fn image_body(req: &ImageRequest, model: &str) -> Value {
    let mut body = json!({"model": model, "prompt": req.prompt});
    if let Some(n) = req.n {
        body["n"] = json!(n);
    }
    if let Some(size) = &req.size {
        body["size"] = json!(size);
    }
    if let Some(quality) = &req.quality {
        body["quality"] = json!(quality);
    }
    if let Some(format) = req.response_format {
        body["response_format"] = json!(match format {
            ImageFormat::Url => "url",
            ImageFormat::Base64 => "b64_json",
        });
    }
    body
}

#[derive(Debug, Deserialize)]
struct Images {
    data: Vec<WireImage>,
    output_format: Option<String>,
    usage: Option<ImageUsage>,
}

#[derive(Debug, Deserialize)]
struct WireImage {
    b64_json: Option<String>,
    url: Option<String>,
    revised_prompt: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ImageUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
}

pub(super) fn parse_images(
    body: &[u8],
    mut usage: Usage,
) -> Result<(Vec<GeneratedImage>, Usage), ProviderError> {
    let answer: Images = parse_json("image generation", body)?;
    let mime = format!("image/{}", answer.output_format.as_deref().unwrap_or("png"));
    let images = answer
        .data
        .into_iter()
        .map(|img| {
            let (data, mime_type) = match (img.b64_json, img.url) {
                (Some(b64), _) => (ImageData::Base64(b64), Some(mime.clone())),
                (None, Some(url)) => (ImageData::Url(url), None),
                (None, None) => {
                    return Err(ProviderError::protocol("an image has neither b64_json nor url"));
                }
            };
            Ok(GeneratedImage { data, mime_type, revised_prompt: img.revised_prompt })
        })
        .collect::<Result<Vec<_>, ProviderError>>()?;
    if let Some(u) = answer.usage {
        usage.input_tokens = u.input_tokens;
        usage.output_tokens = u.output_tokens;
    }
    Ok((images, usage))
}
