//! The host's media server: its files, by track id only, with HTTP Range, to holders of the room's
//! tokens; each track's embedded cover; and listeners' uploads (in [`crate::uploads`]). A path never
//! comes from a request: the id is looked up in the host's store, so there is nothing to traverse.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use whatssound_core::store::HostStore;

use crate::copies::{Growing, OpusCopy, Written};
use whatssound_room::TrackId;

/// Bytes read per chunk of a response body.
const CHUNK: usize = 64 * 1024;

/// Who may fetch, where the track ids resolve, and where uploads go.
#[derive(Debug)]
pub struct MediaLibrary {
    store: Mutex<HostStore>,
    tokens: Mutex<Vec<String>>,
    pub(crate) uploads: PathBuf,
    pub(crate) max_upload_bytes: u64,
    copies: crate::copies::OpusCopies,
}

impl MediaLibrary {
    /// `store` is opened separately from the room's (SQLite's WAL lets it read while the room
    /// writes); uploads are kept in `data_dir/uploads`, Opus copies in `data_dir/copies`.
    pub fn new(store: HostStore, tokens: Vec<String>, data_dir: &std::path::Path) -> Self {
        MediaLibrary {
            store: Mutex::new(store),
            tokens: Mutex::new(tokens),
            uploads: data_dir.join("uploads"),
            max_upload_bytes: crate::uploads::MAX_UPLOAD_BYTES,
            copies: crate::copies::OpusCopies::new(data_dir.join("copies")),
        }
    }

    /// Replaces the tokens that open the media (a new invite: the old token stops working here too).
    pub fn set_tokens(&self, tokens: Vec<String>) {
        *self.tokens.lock().unwrap_or_else(PoisonError::into_inner) = tokens;
    }

    fn path_of(&self, track: &TrackId) -> Result<Option<PathBuf>, whatssound_core::store::StoreError> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner).file(track)
    }

    /// Checks the request's token (query `token` or `Authorization: Bearer`); the refusal to send if wrong.
    pub(crate) fn authorize(&self, query: Option<String>, headers: &HeaderMap) -> Result<(), Refusal> {
        let bearer =
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::to_owned);
        let Some(token) = query.or(bearer) else {
            return Err(Refusal(
                StatusCode::UNAUTHORIZED,
                "media needs the room's token (query `token` or `Authorization: Bearer`)".into(),
            ));
        };
        if !self.tokens.lock().unwrap_or_else(PoisonError::into_inner).iter().any(|t| t == &token) {
            return Err(Refusal(StatusCode::UNAUTHORIZED, "wrong or expired token for this room's media".into()));
        }
        Ok(())
    }

    /// The file behind a track id, or the response that says why there is none.
    fn file_of(&self, track: &str) -> Result<PathBuf, Refusal> {
        match self.path_of(&TrackId(track.to_owned())) {
            Ok(Some(path)) => Ok(path),
            Ok(None) => Err(Refusal(StatusCode::NOT_FOUND, format!("no host file for track {track:?}"))),
            Err(e) => Err(Refusal(StatusCode::INTERNAL_SERVER_ERROR, format!("the host's store failed: {e}"))),
        }
    }
}

/// `GET /media/{track_id}?token=…` (or `Authorization: Bearer …`; `&format=opus&kbps=96` for an
/// Opus copy), `GET /media/{track_id}/cover`, and `POST /media/uploads?name=…`.
pub fn router(library: Arc<MediaLibrary>) -> Router {
    Router::new()
        .route("/media/{track}", get(serve_track))
        .route("/media/{track}/cover", get(serve_cover))
        .route("/media/uploads", axum::routing::post(crate::uploads::receive))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(library)
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct TokenQuery {
    pub(crate) token: Option<String>,
}

/// Which copy of a track: the original (no `format`), or `format=opus` at `kbps` from second
/// `from_s`.
#[derive(Debug, serde::Deserialize)]
struct CopyQuery {
    format: Option<String>,
    kbps: Option<u32>,
    from_s: Option<u64>,
}

/// The file behind `/media/{track}` for a request whose token opens the room's media: both media
/// routes take one, so neither can forget the token check.
struct AuthorizedFile {
    track: String,
    path: PathBuf,
}

impl FromRequestParts<Arc<MediaLibrary>> for AuthorizedFile {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, library: &Arc<MediaLibrary>) -> Result<Self, Response> {
        let Path(track) = Path::<String>::from_request_parts(parts, library).await.map_err(IntoResponse::into_response)?;
        let Query(q) = Query::<TokenQuery>::from_request_parts(parts, library).await.map_err(IntoResponse::into_response)?;
        library.authorize(q.token, &parts.headers).map_err(IntoResponse::into_response)?;
        let path = library.file_of(&track).map_err(IntoResponse::into_response)?;
        Ok(AuthorizedFile { track, path })
    }
}

/// [`Refusal::gone`], as a response.
fn unreadable(track: &str, e: impl std::fmt::Display) -> Response {
    Refusal::gone(track, e).into_response()
}

/// A request refused, with the one line that says why.
#[derive(Debug)]
pub(crate) struct Refusal(pub(crate) StatusCode, pub(crate) String);

impl Refusal {
    /// A track whose file the host can no longer read (moved, deleted, unmounted).
    pub(crate) fn gone(track: &str, e: impl std::fmt::Display) -> Self {
        Refusal(StatusCode::GONE, format!("track {track}'s file is no longer readable on the host: {e}"))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, format!("{}\n", self.1)).into_response()
    }
}

pub(crate) fn refuse(status: StatusCode, text: String) -> Response {
    Refusal(status, text).into_response()
}

/// The track's embedded picture, as it is stored in the file.
async fn serve_cover(AuthorizedFile { track, path }: AuthorizedFile) -> Response {
    match tokio::task::spawn_blocking(move || whatssound_audio::cover_of_file(&path)).await {
        Ok(Ok(Some(cover))) => {
            let kind = HeaderValue::from_str(&cover.media_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
            let mut response = Response::new(Body::from(cover.data));
            response.headers_mut().insert(header::CONTENT_TYPE, kind);
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=86400"));
            response
        }
        Ok(Ok(None)) => refuse(StatusCode::NOT_FOUND, format!("track {track} has no cover art")),
        Ok(Err(e)) => unreadable(&track, e),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, format!("reading the cover failed: {e}")),
    }
}

async fn serve_track(
    AuthorizedFile { track, path }: AuthorizedFile,
    State(library): State<Arc<MediaLibrary>>,
    Query(copy): Query<CopyQuery>,
    headers: HeaderMap,
) -> Response {
    let path = match copy.format.as_deref() {
        None | Some("original") => path,
        Some("opus") => match library
            .copies
            .copy_of(&track, &path, copy.kbps.unwrap_or(whatssound_audio::OPUS_DEFAULT_KBPS), copy.from_s.unwrap_or(0))
            .await
        {
            Ok(OpusCopy::Made(copy)) => copy,
            Ok(OpusCopy::Making(growing)) => return serve_growing(&track, growing).await,
            Ok(OpusCopy::From(pages)) => return opus_response(Body::from_stream(page_stream(pages))),
            Err(refusal) => return refusal.into_response(),
        },
        Some(other) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("format={other} is not one the host makes: ask for opus, or no format for the original"),
            );
        }
    };
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => return unreadable(&track, e),
    };
    let len = match file.metadata().await {
        Ok(m) => m.len(),
        Err(e) => return unreadable(&track, e),
    };
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).map(|r| parse_range(r, len));
    let (status, start, end) = match range {
        None | Some(Ok(None)) => (StatusCode::OK, 0, len),
        Some(Ok(Some((start, end)))) => (StatusCode::PARTIAL_CONTENT, start, end),
        Some(Err(Unsatisfiable)) => {
            let mut r = refuse(StatusCode::RANGE_NOT_SATISFIABLE, format!("range is outside the file ({len} bytes)"));
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    if let Err(e) = file.seek(std::io::SeekFrom::Start(start)).await {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, format!("could not read track {track}: {e}"));
    }
    let body = Body::from_stream(futures_util::stream::unfold((file, end - start), |(mut file, left)| async move {
        if left == 0 {
            return None;
        }
        let mut buf = vec![0u8; CHUNK.min(usize::try_from(left).unwrap_or(CHUNK))];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), (file, left - n as u64)))
            }
            Err(e) => Some((Err(e), (file, 0))),
        }
    }));
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&path)));
    if let Ok(v) = HeaderValue::from_str(&(end - start).to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", end - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    response
}

/// A copy still being encoded, sent as it is written.
async fn serve_growing(track: &str, growing: Growing) -> Response {
    let file = match tokio::fs::File::open(&growing.part).await {
        Ok(f) => f,
        // Renamed between the request and here: it is whole.
        Err(_) => match tokio::fs::File::open(&growing.whole).await {
            Ok(f) => f,
            Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, format!("could not read the Opus copy of track {track}: {e}")),
        },
    };
    let failed = || std::io::Error::other("the host failed to finish the Opus copy");
    let body = Body::from_stream(futures_util::stream::unfold(Some((file, growing.written, 0u64)), move |state| async move {
        let (mut file, mut written, sent) = state?;
        loop {
            let (ready, whole) = match *written.borrow_and_update() {
                Written::Partly(n) => (n, false),
                Written::Whole(n) => (n, true),
                Written::Failed => return Some((Err(failed()), None)),
            };
            if sent < ready {
                let mut buf = vec![0u8; CHUNK.min(usize::try_from(ready - sent).unwrap_or(CHUNK))];
                return match file.read(&mut buf).await {
                    Ok(0) => Some((Err(failed()), None)),
                    Ok(n) => {
                        buf.truncate(n);
                        Some((Ok(bytes::Bytes::from(buf)), Some((file, written, sent + n as u64))))
                    }
                    Err(e) => Some((Err(e), None)),
                };
            }
            if whole {
                return None;
            }
            // An encoder gone without its last word (a panic) leaves the copy unfinished.
            if written.changed().await.is_err() && matches!(*written.borrow(), Written::Partly(_)) {
                return Some((Err(failed()), None));
            }
        }
    }));
    opus_response(body)
}

/// A copy sent as it is made: chunked (its length is not known yet), and a Range is answered
/// with all of it, which a resuming client skips through.
fn opus_response(body: Body) -> Response {
    let mut response = Response::new(body);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/ogg; codecs=opus"));
    response
}

/// The pages of a copy made for one request, as a body.
fn page_stream(
    pages: tokio::sync::mpsc::UnboundedReceiver<std::io::Result<bytes::Bytes>>,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> {
    futures_util::stream::unfold(pages, |mut pages| async move { pages.recv().await.map(|page| (page, pages)) })
}

/// A range that lies outside the file (HTTP 416).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfiable;

/// A single `bytes=` range as `[start, end)`. `Ok(None)`: no usable range (serve it all, as RFC 9110
/// allows for several ranges or other units).
pub fn parse_range(header: &str, len: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else { return Ok(None) };
    let (a, b) = (a.trim(), b.trim());
    match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (Some(start), _) if start >= len => Err(Unsatisfiable),
        (Some(start), Some(last)) if last >= start => Ok(Some((start, last.saturating_add(1).min(len)))),
        (Some(_), Some(_)) => Ok(None),
        (Some(start), None) if b.is_empty() => Ok(Some((start, len))),
        (None, Some(suffix)) if a.is_empty() => match suffix {
            0 => Err(Unsatisfiable),
            n => Ok(Some((len.saturating_sub(n), len))),
        },
        _ => Ok(None),
    }
}

fn content_type(path: &std::path::Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("mp3") => "audio/mpeg",
        Some("flac") => "audio/flac",
        Some("ogg" | "oga") => "audio/ogg",
        Some("opus") => "audio/ogg; codecs=opus",
        Some("wav") => "audio/wav",
        Some("m4a" | "mp4") => "audio/mp4",
        Some("aac") => "audio/aac",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use futures_util::StreamExt;
    use tokio::sync::watch;

    use super::{Growing, Unsatisfiable, Written, parse_range, serve_growing};

    #[tokio::test]
    async fn a_copy_being_made_is_sent_as_it_is_written_and_one_that_fails_breaks_off() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("c.opus.part");
        std::fs::write(&part, b"first").unwrap();
        let (tx, written) = watch::channel(Written::Partly(5));
        let growing = Growing { part: part.clone(), whole: dir.path().join("c.opus"), written };
        let mut body = serve_growing("t", growing.clone()).await.into_body().into_data_stream();
        assert_eq!(body.next().await.unwrap().unwrap(), "first");
        std::fs::OpenOptions::new().append(true).open(&part).unwrap().write_all(b" second").unwrap();
        tx.send_replace(Written::Partly(12));
        assert_eq!(body.next().await.unwrap().unwrap(), " second");
        tx.send_replace(Written::Failed);
        assert!(body.next().await.unwrap().is_err(), "a copy that failed is not a quiet end");
        assert!(body.next().await.is_none());

        // Renamed when whole, before a late reader opened it: read from its final name, to its end.
        std::fs::rename(&part, &growing.whole).unwrap();
        let (_tx, written) = watch::channel(Written::Whole(12));
        let body = serve_growing("t", Growing { written, ..growing }).await.into_body().into_data_stream();
        let all: Vec<_> = body.map(|b| b.unwrap()).collect().await;
        assert_eq!(all.concat(), b"first second");
    }

    #[test]
    fn ranges_as_rfc_9110_reads_them() {
        assert_eq!(parse_range("bytes=0-99", 1000), Ok(Some((0, 100))));
        assert_eq!(parse_range("bytes=900-", 1000), Ok(Some((900, 1000))));
        assert_eq!(parse_range("bytes=-100", 1000), Ok(Some((900, 1000))));
        assert_eq!(parse_range("bytes=990-5000", 1000), Ok(Some((990, 1000))), "clipped to the end");
        assert_eq!(parse_range("bytes=1000-", 1000), Err(Unsatisfiable), "starts past the end");
        assert_eq!(parse_range("bytes=-0", 1000), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), Ok(None), "several ranges: send it all");
        assert_eq!(parse_range("items=0-1", 1000), Ok(None));
        assert_eq!(parse_range("bytes=5-1", 1000), Ok(None));
        assert_eq!(parse_range("bytes=abc", 1000), Ok(None));
    }
}
