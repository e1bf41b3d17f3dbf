use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_partial_json, header, method, path},
};

use super::{super::*, support::*};

#[tokio::test]
async fn embeddings_come_back_in_input_order() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list",
            "data": [
                {"object": "embedding", "index": 1, "embedding": [0.5, 0.25]},
                {"object": "embedding", "index": 0, "embedding": [1.0, -1.0]}
            ],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 9, "total_tokens": 9}
        })))
        .mount(&server)
        .await;
    let req = EmbedRequest {
        inputs: vec!["first".into(), "second".into()],
        dimensions: Some(2),
        ..EmbedRequest::default()
    };

    let answer = openai(&server).embed(&req).await.unwrap();

    assert_eq!(answer.vectors, vec![vec![1.0, -1.0], vec![0.5, 0.25]]);
    assert_eq!(answer.usage.input_tokens, 9);
    assert_eq!(answer.usage.model, "text-embedding-3-small");
    assert_eq!(
        body_of(&server, 0).await,
        json!({"model": "text-embedding-3-small", "input": ["first", "second"],
               "encoding_format": "float", "dimensions": 2})
    );
}

#[tokio::test]
async fn images_come_back_as_base64_or_url() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/images/generations"))
        .and(body_partial_json(json!({"model": "gpt-image-1"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "created": 1_700_000_000,
            "data": [{"b64_json": "aGVsbG8="}],
            "usage": {"input_tokens": 12, "output_tokens": 4160, "total_tokens": 4172}
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/images/generations"))
        .and(body_partial_json(json!({"model": "dall-e-3"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "created": 1_700_000_000,
            "data": [{"url": "https://files.example/img.png", "revised_prompt": "A red fox"}]
        })))
        .mount(&server)
        .await;
    let provider = openai(&server);

    let b64 = provider
        .generate_image(&ImageRequest {
            prompt: "a fox".into(),
            size: Some("1024x1024".into()),
            ..ImageRequest::default()
        })
        .await
        .unwrap();
    let url = provider
        .generate_image(&ImageRequest {
            model: Some("dall-e-3".into()),
            prompt: "a fox".into(),
            response_format: Some(ImageFormat::Url),
            ..ImageRequest::default()
        })
        .await
        .unwrap();

    assert_eq!(b64.images[0].data, ImageData::Base64("aGVsbG8=".into()));
    assert_eq!(b64.images[0].mime_type.as_deref(), Some("image/png"));
    assert_eq!((b64.usage.input_tokens, b64.usage.output_tokens), (12, 4160));
    assert_eq!(url.images[0].data, ImageData::Url("https://files.example/img.png".into()));
    assert_eq!(url.images[0].revised_prompt.as_deref(), Some("A red fox"));
    let first = body_of(&server, 0).await;
    assert_eq!(first, json!({"model": "gpt-image-1", "prompt": "a fox", "size": "1024x1024"}));
    assert_eq!(body_of(&server, 1).await["response_format"], "url");
}
