//! A listener's own files, uploaded to the host: `POST /media/uploads?name=FILE&token=…` with the
//! file as the body.
//!
//! The body streams to a temporary file (never all in memory), capped at
//! [`MAX_UPLOAD_BYTES`]; the file is probed before it is kept, so what the room is offered is audio
//! that decodes. The answer is the upload's id and tags; the listener then queues it with an
//! ordinary signed intent naming the id ([`TrackSource::Upload`]), so who added it is as certain
//! as any other intent. Nothing a request says becomes a path: ids are made here.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use tokio::io::AsyncWriteExt;
use whatssound_room::TrackSource;

use crate::media::{MediaLibrary, Refusal, refuse};

/// The largest upload the host takes: 200 MiB, an hour of lossless stereo.
pub const MAX_UPLOAD_BYTES: u64 = 200 * 1024 * 1024;

#[derive(Debug, serde::Deserialize)]
pub(crate) struct UploadQuery {
    token: Option<String>,
    /// The file's name on the uploader's machine: its extension hints at the format, its stem is
    /// the title when the tags have none.
    name: Option<String>,
}

/// What an accepted upload is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Uploaded {
    pub id: String,
    pub title: String,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub duration_ms: Option<u64>,
}

impl Uploaded {
    /// The intent that offers this upload to the room (at the end of the queue).
    pub fn enqueue(self) -> whatssound_room::Action {
        let track = whatssound_room::TrackMeta {
            title: self.title,
            artist: self.artist,
            album: self.album,
            duration_ms: self.duration_ms,
            source: TrackSource::Upload { id: self.id },
            hash: None,
        };
        whatssound_room::Action::Enqueue { track, position: whatssound_room::Position::Append }
    }
}

/// Where the upload `id` is kept on the host, if the id is well formed.
pub fn upload_path(uploads: &Path, id: &str) -> Option<PathBuf> {
    TrackSource::is_valid_upload_id(id).then(|| uploads.join(id))
}

pub(crate) async fn receive(
    State(library): State<Arc<MediaLibrary>>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(refusal) = library.authorize(q.token, &headers) {
        return refusal.into_response();
    }
    let name = q.name.unwrap_or_default();
    let name = Path::new(&name).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if name.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "an upload needs the file's name (query `name`)".into());
    }
    let id = new_upload_id();
    let extension = Path::new(&name).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let part = library.uploads.join(format!("{id}.{}", extension.as_deref().unwrap_or("part")));
    let result = save(&library, &part, body).await;
    if let Err(refusal) = result {
        let _ = tokio::fs::remove_file(&part).await;
        return refusal.into_response();
    }
    let probed = {
        let part = part.clone();
        tokio::task::spawn_blocking(move || whatssound_audio::probe_file(&part)).await
    };
    let info = match probed {
        Ok(Ok(info)) => info,
        Ok(Err(e)) => {
            let _ = tokio::fs::remove_file(&part).await;
            // The message names the temporary file; the uploader knows it by its own name.
            let reason = e.to_string().replace(&part.display().to_string(), &name);
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, reason);
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&part).await;
            return refuse(StatusCode::INTERNAL_SERVER_ERROR, format!("checking the upload failed: {e}"));
        }
    };
    let kept = library.uploads.join(&id);
    if let Err(e) = tokio::fs::rename(&part, &kept).await {
        let _ = tokio::fs::remove_file(&part).await;
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, format!("could not keep the upload: {e}"));
    }
    let stem = Path::new(&name).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or(name);
    let uploaded =
        Uploaded { id, title: info.title.unwrap_or(stem), artist: info.artist, album: info.album, duration_ms: info.duration_ms };
    let json = serde_json::to_string(&uploaded).unwrap_or_default();
    (StatusCode::CREATED, [(axum::http::header::CONTENT_TYPE, "application/json")], json).into_response()
}

/// Streams the body into `part`, refusing it once it passes the cap.
async fn save(library: &MediaLibrary, part: &Path, body: Body) -> Result<(), Refusal> {
    let disk = |e: std::io::Error| {
        let full = e.raw_os_error() == Some(28); // ENOSPC
        let status = if full { StatusCode::INSUFFICIENT_STORAGE } else { StatusCode::INTERNAL_SERVER_ERROR };
        let what = if full { "the host's disk is full".to_owned() } else { format!("the host could not store the upload: {e}") };
        Refusal(status, format!("{what}; nothing was kept"))
    };
    tokio::fs::create_dir_all(&library.uploads).await.map_err(disk)?;
    let mut file = tokio::fs::File::create(part).await.map_err(disk)?;
    let mut body = body;
    let mut written: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Refusal(StatusCode::BAD_REQUEST, format!("the upload broke off: {e}")))?;
        if let Some(data) = frame.data_ref() {
            written += data.len() as u64;
            if written > library.max_upload_bytes {
                let mib = library.max_upload_bytes / (1024 * 1024);
                return Err(Refusal(StatusCode::PAYLOAD_TOO_LARGE, format!("the file is larger than the host takes ({mib} MiB)")));
            }
            file.write_all(data).await.map_err(disk)?;
        }
    }
    if written == 0 {
        return Err(Refusal(StatusCode::BAD_REQUEST, "the upload is empty".into()));
    }
    file.flush().await.map_err(disk)?;
    file.sync_all().await.map_err(disk)
}

/// Uploads `path` to the host whose room is at `ws_base` (an invite's `ws`), with the room's
/// `token`; the answer names the upload for an enqueue.
pub async fn upload(ws_base: &str, token: &str, path: &Path) -> Result<Uploaded, whatssound_core::fetch::FetchError> {
    use whatssound_core::fetch::FetchError;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let enc = whatssound_protocol::invite::encode_query_value;
    let http = ws_base.replacen("ws://", "http://", 1).replacen("wss://", "https://", 1);
    let url = format!("{http}/media/uploads?name={}&token={}", enc(&name), enc(token));
    let shown = format!("{http}/media/uploads");
    let fail = |reason: String| FetchError::Http { url: shown.clone(), reason };
    let bytes = tokio::fs::read(path).await.map_err(|e| fail(format!("could not read {}: {e}", path.display())))?;
    if bytes.len() as u64 > MAX_UPLOAD_BYTES {
        return Err(fail(format!("{} is larger than a host takes ({} MiB)", path.display(), MAX_UPLOAD_BYTES / (1024 * 1024))));
    }
    let request = hyper::Request::post(url).body(http_body_util::Full::new(bytes::Bytes::from(bytes))).map_err(|e| fail(e.to_string()))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, http_body_util::Full<bytes::Bytes>>(hyper_tls::HttpsConnector::new());
    let response = client.request(request).await.map_err(|e| fail(e.to_string()))?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map_err(|e| fail(e.to_string()))?.to_bytes();
    if status != 201 {
        return Err(FetchError::Status { url: shown, status, body: String::from_utf8_lossy(&body).trim().to_owned() });
    }
    serde_json::from_slice(&body).map_err(|e| fail(format!("the host's answer is not an upload: {e}")))
}

fn new_upload_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..24).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_never_name_a_path() {
        let dir = Path::new("/data/uploads");
        assert_eq!(upload_path(dir, "abc123"), Some(dir.join("abc123")));
        for bad in ["", "../etc", "a/b", "a.b", &"x".repeat(65)] {
            assert_eq!(upload_path(dir, bad), None, "{bad:?}");
        }
        let id = new_upload_id();
        assert!(upload_path(dir, &id).is_some(), "{id}");
    }
}
