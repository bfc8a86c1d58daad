//! Getting a track's bytes: from the host's media server or any http(s) URL, with progress, into
//! a cache so a track is downloaded once; and, for the host, describing a URL track from its bytes.

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
    #[error("{0}")]
    Swarm(#[from] whatssound_swarm::SwarmError),
}

/// A download that sends nothing for this long has failed: a host that vanished without closing
/// the connection must not leave a track waiting for ever.
const STALL: std::time::Duration = std::time::Duration::from_secs(20);

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

/// How a download ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// Every byte arrived (and is cached).
    Whole,
    /// The receiver stopped wanting it; nothing was cached.
    Stopped,
}

/// Whether `key` is whole in the cache (a stat: cheap enough to ask before choosing a source).
pub fn is_cached(cache_dir: &Path, key: &str) -> bool {
    cache_path(cache_dir, key).is_file()
}

/// Fetches `url` whole (cached as `cache/key`), reporting progress as bytes arrive.
pub async fn fetch(url: &str, cache_dir: &Path, key: &str, mut progress: impl FnMut(Progress)) -> Result<Vec<u8>, FetchError> {
    let mut bytes = Vec::new();
    stream(
        url,
        cache_dir,
        key,
        |data, p| {
            bytes.extend_from_slice(data);
            progress(p);
            true
        },
        || None,
    )
    .await?;
    Ok(bytes)
}

/// Streams a track to `chunk` as [`stream`] does: from the room's members when it has a content
/// hash and this member passes tracks on (`swarm`), else (or when no member nor the host can
/// give it that way, before a byte came) from `url`, held back while `hold` says so.
pub async fn stream_track(
    swarm: Option<(&whatssound_swarm::Swarm, &str)>,
    url: &str,
    cache_dir: &Path,
    key: &str,
    mut chunk: impl FnMut(&[u8], Progress) -> bool,
    hold: impl Fn() -> Option<std::time::Duration>,
) -> Result<Fetched, FetchError> {
    if let Some((swarm, hash)) = swarm {
        let mut started = false;
        let fetched = match whatssound_swarm::parse_hash(hash) {
            Ok(hash) => {
                swarm
                    .fetch(hash, |data, p| {
                        started = true;
                        chunk(data, Progress { bytes: p.bytes, total: p.total })
                    })
                    .await
            }
            Err(e) => Err(e),
        };
        match fetched {
            Ok(whatssound_swarm::fetch::Fetched::Whole) => return Ok(Fetched::Whole),
            Ok(whatssound_swarm::fetch::Fetched::Stopped) => return Ok(Fetched::Stopped),
            Err(e) if started => return Err(e.into()),
            Err(e) => tracing::warn!("{e}; fetching it from the host's media server instead"),
        }
    }
    stream(url, cache_dir, key, chunk, hold).await
}

/// Streams `url` to `chunk` as it arrives (a cached copy, if any, in one piece), with the progress
/// so far; `chunk` returns whether it still wants the rest. A whole download is cached as
/// `cache/key`. Only a 200's body reaches `chunk`: any other answer is an error naming the status.
///
/// Before each read, `hold` may say to wait (and is asked again after): a download far enough
/// ahead of its listener stops reading, flow control stops the sender, and a thin link is left
/// quiet for the clock's datagrams and the room's messages instead of queueing them behind audio
/// not needed for a minute.
pub async fn stream(
    url: &str,
    cache_dir: &Path,
    key: &str,
    mut chunk: impl FnMut(&[u8], Progress) -> bool,
    hold: impl Fn() -> Option<std::time::Duration>,
) -> Result<Fetched, FetchError> {
    let cached = cache_path(cache_dir, key);
    if let Ok(bytes) = tokio::fs::read(&cached).await {
        let n = bytes.len() as u64;
        return Ok(if chunk(&bytes, Progress { bytes: n, total: Some(n) }) { Fetched::Whole } else { Fetched::Stopped });
    }
    let http = |reason: String| FetchError::Http { url: redact(url), reason };
    let uri: hyper::Uri = url.parse().map_err(|e| http(format!("not a URL: {e}")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(http("only http and https URLs can be played".into()));
    }
    // TLS through the system's OpenSSL (native-tls), which checks certificates against the
    // system's store, as the realtime client's wss:// does.
    let client: HttpClient = Client::builder(TokioExecutor::new()).build(hyper_tls::HttpsConnector::new());
    let response = client.get(uri.clone()).await.map_err(|e| http(error_chain(&e)))?;
    let status = response.status().as_u16();
    let total = response.headers().get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let mut body = response.into_body();
    if status != 200 {
        // The body of a refusal is its reason (the host's media server answers in one line).
        let mut text = Vec::new();
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                text.extend_from_slice(&data[..data.len().min(4096 - text.len())]);
            }
            if text.len() == 4096 {
                break;
            }
        }
        let body = String::from_utf8_lossy(&text).trim().to_owned();
        return Err(FetchError::Status { url: redact(url), status, body });
    }
    let mut cache = CacheFile::create(cache_dir, &cached).await;
    let mut bytes = 0u64;
    // After a resume a server without ranges sends the whole again: this much of it is known.
    let mut repeated = 0u64;
    let mut resumes = 0;
    loop {
        while let Some(wait) = hold() {
            tokio::time::sleep(wait).await;
        }
        let broke = match tokio::time::timeout(STALL, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let skip = usize::try_from(repeated).unwrap_or(usize::MAX).min(data.len());
                    repeated -= skip as u64;
                    let data = &data[skip..];
                    if data.is_empty() {
                        continue;
                    }
                    bytes += data.len() as u64;
                    if !chunk(data, Progress { bytes, total }) {
                        return Ok(Fetched::Stopped);
                    }
                    cache.write(data).await;
                }
                continue;
            }
            Ok(None) if total.is_none_or(|t| bytes >= t) => break,
            Ok(None) => format!("the download ended at {bytes} of {} bytes", total.unwrap_or(0)),
            Ok(Some(Err(e))) => format!("the download broke off after {bytes} bytes ({})", error_chain(&e)),
            Err(_) => format!("nothing arrived for {} s; is the host still there?", STALL.as_secs()),
        };
        // A connection that drops mid-track (Wi-Fi, a restarting proxy) is picked up where it
        // broke, a few times, before the track is given up.
        let mut last = None;
        let mut resumed = None;
        while resumed.is_none() && resumes < RESUMES {
            resumes += 1;
            tokio::time::sleep(RESUME_WAIT * resumes).await;
            match resume(&client, &uri, bytes).await {
                Ok(r) => resumed = Some(r),
                Err(e) => last = Some(e),
            }
        }
        let Some((next, skip)) = resumed else {
            let last = last.map(|e| e.to_string()).unwrap_or_default();
            return Err(http(format!("{broke}; resuming failed: {last}")));
        };
        body = next;
        repeated = skip;
    }
    if total.is_some_and(|t| t != bytes) {
        return Err(http(format!("the download ended at {bytes} of {} bytes", total.unwrap_or(0))));
    }
    cache.keep().await;
    Ok(Fetched::Whole)
}

/// Attempts, over a whole download, to pick it up again after it broke; they wait 0.25, 0.5, 0.75 s.
const RESUMES: u32 = 3;
const RESUME_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

type HttpClient =
    Client<hyper_tls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, http_body_util::Empty<bytes::Bytes>>;

/// Asks again from byte `from` (HTTP Range): the new body, and how many of its first bytes repeat
/// what already came (all of them up to `from` when the server ignores ranges and answers 200).
async fn resume(client: &HttpClient, uri: &hyper::Uri, from: u64) -> Result<(hyper::body::Incoming, u64), ResumeError> {
    let request = hyper::Request::get(uri.clone())
        .header(hyper::header::RANGE, format!("bytes={from}-"))
        .body(http_body_util::Empty::new())
        .map_err(ResumeError::Request)?;
    let response = client.request(request).await.map_err(|e| ResumeError::Unreachable(error_chain(&e)))?;
    match response.status().as_u16() {
        206 => {
            let range = response.headers().get(hyper::header::CONTENT_RANGE).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !range.starts_with(&format!("bytes {from}-")) {
                return Err(ResumeError::WrongRange { range: range.to_owned(), from });
            }
            Ok((response.into_body(), 0))
        }
        200 => Ok((response.into_body(), from)),
        status => Err(ResumeError::Status(status)),
    }
}

/// Why a broken download could not be picked up again; it ends the download's one-line error.
#[derive(Debug, thiserror::Error)]
enum ResumeError {
    #[error("{0}")]
    Request(hyper::http::Error),
    /// The connection's error and its causes, on one line.
    #[error("{0}")]
    Unreachable(String),
    #[error("the server resumed at {range:?}, not at byte {from}")]
    WrongRange { range: String, from: u64 },
    #[error("the server answered {0} when asked for the rest")]
    Status(u16),
}

/// A download's copy on disk, written as it arrives and named only once whole. The cache is a
/// saving, not a need: if the disk is full or read-only the track still plays, with a warning.
struct CacheFile {
    file: Option<tokio::fs::File>,
    part: PathBuf,
    whole: PathBuf,
}

impl CacheFile {
    async fn create(dir: &Path, whole: &Path) -> Self {
        let part = whole.with_extension("part");
        let file = match tokio::fs::create_dir_all(dir).await {
            Ok(()) => tokio::fs::File::create(&part).await,
            Err(e) => Err(e),
        };
        let file = file.map_err(|e| tracing::warn!("not caching {}: {e}", whole.display())).ok();
        CacheFile { file, part, whole: whole.to_owned() }
    }

    async fn write(&mut self, data: &[u8]) {
        use tokio::io::AsyncWriteExt;
        if let Some(file) = self.file.as_mut()
            && let Err(e) = file.write_all(data).await
        {
            tracing::warn!("not caching {}: {e}", self.whole.display());
            self.file = None;
            let _ = tokio::fs::remove_file(&self.part).await;
        }
    }

    async fn keep(mut self) {
        use tokio::io::AsyncWriteExt;
        let Some(mut file) = self.file.take() else { return };
        let done = match file.flush().await {
            Ok(()) => tokio::fs::rename(&self.part, &self.whole).await,
            Err(e) => Err(e),
        };
        if let Err(e) = done {
            tracing::warn!("not caching {}: {e}", self.whole.display());
            let _ = tokio::fs::remove_file(&self.part).await;
        }
    }
}

impl Drop for CacheFile {
    fn drop(&mut self) {
        // An unfinished copy must not be mistaken for the track later.
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.part);
        }
    }
}

/// An error and its causes on one line (hyper's own message is only "client error (Connect)").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A cache file name for a track's URL: stable across runs, and blind to the token (a new invite
/// must not refetch what is cached).
pub fn cache_key(url: &str) -> String {
    let without_query = url.split('?').next().unwrap_or(url);
    let hash = crate::fnv1a(without_query);
    let tail: String =
        without_query.rsplit('/').next().unwrap_or("").chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.').take(40).collect();
    format!("{hash:016x}-{tail}")
}

/// What the host learns about a URL track by fetching and probing it: its length and any tags the
/// adder left out, or why it cannot be played.
pub async fn describe_url(url: &str, cache_dir: &Path, known: &whatssound_room::TrackMeta) -> whatssound_room::TrackPatch {
    use whatssound_room::TrackPatch;
    let bytes = match fetch(url, cache_dir, &cache_key(url), |_| {}).await {
        Ok(b) => b,
        // The reason is published to the room: it names the status, never the body (a listener
        // must not read pages on the host's network through it).
        Err(FetchError::Status { url, status, .. }) => {
            return TrackPatch { unplayable: Some(format!("{url}: the server answered {status}")), ..TrackPatch::default() };
        }
        Err(e) => return TrackPatch { unplayable: Some(e.to_string()), ..TrackPatch::default() },
    };
    let extension = url.split('?').next().and_then(|u| u.rsplit_once('.')).map(|(_, e)| e.to_owned()).filter(|e| e.len() <= 4);
    let name = redact(url);
    match tokio::task::spawn_blocking(move || whatssound_audio::probe_bytes(bytes, extension.as_deref(), &name)).await {
        Ok(Ok(info)) => TrackPatch {
            artist: info.artist.filter(|_| known.artist.is_none()),
            album: info.album.filter(|_| known.album.is_none()),
            duration_ms: info.duration_ms.filter(|_| known.duration_ms.is_none()),
            ..TrackPatch::default()
        },
        Ok(Err(e)) => TrackPatch { unplayable: Some(e.to_string()), ..TrackPatch::default() },
        Err(e) => TrackPatch { unplayable: Some(format!("checking the track failed: {e}")), ..TrackPatch::default() },
    }
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
