//! Getting a track's bytes to a listener: from the host's media server (or any http URL), with
//! progress, into a cache in the listener's data dir so a track is downloaded once.

use std::path::{Path, PathBuf};

use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Why a track could not be fetched; each message says which and why.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {reason}")]
    Http { url: String, reason: String },
    #[error("{url}: the server answered {status}: {body}")]
    Status { url: String, status: u16, body: String },
    #[error("could not cache {path}: {error}")]
    Cache { path: String, error: std::io::Error },
}

/// Progress of one download, for the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub bytes: u64,
    pub total: Option<u64>,
}

/// The URL of a host file on the host's media server.
pub fn media_url(ws_base: &str, track: &str, token: &str) -> String {
    let http = ws_base.replacen("ws://", "http://", 1).replacen("wss://", "https://", 1);
    let enc = whatssound_protocol::invite::encode_query_value;
    format!("{http}/media/{}?token={}", enc(track), enc(token))
}

/// Fetches `url` (cached as `cache/key`), reporting progress as bytes arrive.
pub async fn fetch(url: &str, cache_dir: &Path, key: &str, mut progress: impl FnMut(Progress)) -> Result<Vec<u8>, FetchError> {
    let cached = cache_path(cache_dir, key);
    if let Ok(bytes) = tokio::fs::read(&cached).await {
        progress(Progress { bytes: bytes.len() as u64, total: Some(bytes.len() as u64) });
        return Ok(bytes);
    }
    let http = |reason: String| FetchError::Http { url: url.to_owned(), reason };
    if url.starts_with("https://") {
        return Err(http("https media is not supported yet; serve it over http or through the host".into()));
    }
    let uri: hyper::Uri = url.parse().map_err(|e| http(format!("not a URL: {e}")))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<http_body_util::Empty<bytes::Bytes>>();
    let response = client.get(uri).await.map_err(|e| http(e.to_string()))?;
    let status = response.status().as_u16();
    let total = response.headers().get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let mut body = response.into_body();
    let mut bytes = Vec::with_capacity(usize::try_from(total.unwrap_or(0)).unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| http(e.to_string()))?;
        if let Some(data) = frame.data_ref() {
            bytes.extend_from_slice(data);
            progress(Progress { bytes: bytes.len() as u64, total });
        }
    }
    if status != 200 {
        let text = String::from_utf8_lossy(&bytes).trim().to_owned();
        return Err(FetchError::Status { url: redact(url), status, body: text });
    }
    let cache_err = |error| FetchError::Cache { path: cached.display().to_string(), error };
    tokio::fs::create_dir_all(cache_dir).await.map_err(cache_err)?;
    let tmp = cached.with_extension("part");
    tokio::fs::write(&tmp, &bytes).await.map_err(cache_err)?;
    tokio::fs::rename(&tmp, &cached).await.map_err(cache_err)?;
    Ok(bytes)
}

fn cache_path(dir: &Path, key: &str) -> PathBuf {
    let safe: String = key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' }).collect();
    dir.join(safe)
}

/// URLs in messages without their token.
fn redact(url: &str) -> String {
    match url.split_once("token=") {
        Some((head, _)) => format!("{head}token=…"),
        None => url.to_owned(),
    }
}
