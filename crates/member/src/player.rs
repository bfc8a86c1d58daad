//! A listener's audio: the room's playback, played in sync through an output.
//!
//! The control side (this module, on the tokio runtime) follows the room as the member's replica
//! accepted it ([`Player::follow`]): its playback says what should play and from where on the
//! host's timeline, its queue where each track comes from; [`Player::set_clock`] says how the
//! host's clock relates to ours. It fetches and decodes each track into a ring on a thread of
//! its own, and sends the output's [`SyncRender`] the [`Timeline`] to follow. The output never
//! waits on any of it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rtrb::{Consumer, Producer, RingBuffer};
use tokio::sync::mpsc;
use whatssound_audio::{
    ArrivingBytes, Clock, Decoder, DeviceOutput, EngineControl, EngineStats, Gain, Nanos, Output, PacedOutput, Playing, PlayoutConfig,
    Resampler, SyncRender, Timeline, Volume, arriving, engine,
};
use whatssound_core::fetch::{self, Progress};
use whatssound_room::{Playback, RoomState, TrackId, TrackSource};

use crate::deck::{Deck, DeckError, decode_into};
use crate::quality::{LinkMeter, Quality, TooThin, WATCH_HOST, WATCH_MEMBERS};

/// The rate the null and WAV outputs run at; a device runs at its own, and tracks at other rates
/// are resampled to the output's.
pub const RATE: u32 = 48_000;
pub const CHANNELS: u16 = 2;
/// A playback change this far from where the old timeline would be is a seek.
const SEEK_MS: i128 = 250;
/// Decoded audio kept ahead of the output: 2 s.
const AHEAD_FRAMES: usize = 2 * RATE as usize;
/// A copy asked for this far into a track starts near the room's position, [`COPY_LEAD_S`]
/// before it (time to fetch the first pages and fill the start cushion).
const COPY_FROM_MS: u64 = 10_000;
const COPY_LEAD_S: u64 = 3;
/// A copy's download stops this far ahead of its reader, until it is not: on a thin link a copy
/// fetched at full speed would fill the link for a minute, queueing the clock's datagrams behind
/// it (they then read the queue as distance, and the estimate moves by half of it).
const COPY_AHEAD_S: f64 = 20.0;

/// Where the audio goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputKind {
    Null,
    Wav(PathBuf),
    /// A sound device: the system default, or one by name.
    Device(Option<String>),
}

/// Frames per device buffer. On ALSA-over-PulseAudio 1024–2048 kept a busy 2-core machine free
/// of xruns where cpal's default (2×512) did not; cpal's own PulseAudio client asks the server
/// for two of these end to end, and a server-side underrun is not reported to the client at all,
/// so it gets more room (64 ms).
const DEVICE_PERIOD: u32 = 3_072;

#[derive(Debug, Clone)]
pub struct PlayerConfig {
    pub output: OutputKind,
    /// Positive plays earlier (for a device that sounds late).
    pub nudge_ms: i64,
    pub clock: Arc<dyn Clock>,
    /// The output's loudness; the UI may change it while playing.
    pub volume: Volume,
    pub cache_dir: PathBuf,
    /// How this member reaches the host: its media's base, and the room's swarm when this member
    /// passes tracks on (tracks with a content hash come from the members who have them).
    pub route: crate::Route,
    /// The token that opens the room's media.
    pub token: String,
    /// A file to log the sound device's every callback to (timing studies; see `bench/audio-sync`).
    pub device_trace: Option<PathBuf>,
    /// The host's originals, or its Opus copies for a thin link (chosen, or measured).
    pub quality: Quality,
}

/// How the current track is playing against the room's timeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlayStats {
    /// The filtered error of the frame sounding against the frame due (positive: behind), once known.
    pub error_ns: Option<i64>,
    /// Corrections: jumps (beyond a few ms), and frames played beyond or short of nominal by
    /// playing faster or slower (below).
    pub jumps: u64,
    pub trimmed_frames: u64,
    /// Periods the ring could not fill (silence played).
    pub underruns: u64,
    /// Errors the sound device reported (xruns and the like).
    pub device_errors: u64,
    /// The sound device's rate against our clock (ppm) and mean latency (ns), once known.
    pub device_rate_ppm: Option<i64>,
    pub device_latency_ns: Option<i64>,
    /// The local instant the current track's first placed frame sounded, once it has.
    pub started_at: Option<i64>,
}

/// What the player reports.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayerEvent {
    /// Download progress; `buffered_ms` is how much of the track that is, when its length is known.
    Buffering {
        track: TrackId,
        progress: Progress,
        buffered_ms: Option<u64>,
    },
    Ready {
        track: TrackId,
        rate: u32,
    },
    Unplayable {
        track: TrackId,
        reason: String,
    },
    /// The link could not carry the original (`Quality::Auto`): the player is changing to the
    /// host's Opus copy at `opus_kbps`; [`Player::use_opus`] makes the change.
    LinkTooThin {
        track: TrackId,
        link_kbps: u64,
        needed_kbps: u64,
        opus_kbps: u32,
    },
}

/// The running player.
pub struct Player {
    config: PlayerConfig,
    /// The output's rate, which every deck is resampled to.
    rate: u32,
    playing: Option<Playing>,
    decks: Producer<Box<SyncRender>>,
    retired: Consumer<Box<SyncRender>>,
    control: Option<EngineControl>,
    track: Option<TrackId>,
    /// The latest point of the host-clock estimate: (local ns, host ns, drift).
    clock_point: Option<(Nanos, Nanos, f64)>,
    stop_decoding: Arc<AtomicBool>,
    events: mpsc::UnboundedSender<PlayerEvent>,
    /// The room as its replica last accepted it: what plays from where, where each track's audio
    /// comes from, and which one is next, to fetch while this one plays.
    room: Arc<RoomState>,
    /// The current track's download (by URL), which a seek reads again.
    download: Option<(String, ArrivingBytes)>,
    /// The Opus bitrate the host's tracks are fetched at; `None`: their originals.
    opus_kbps: Option<u32>,
    /// Set while the next track is fetched ahead: the link is shared, so no download is judged.
    prefetching: Arc<AtomicBool>,
    /// Stops the next track's fetch ahead (an original, once the player has changed to copies).
    stop_prefetch: Arc<AtomicBool>,
    /// A copy waits for the first clock estimate to know where in the track the room is.
    load_on_clock: bool,
}

impl std::fmt::Debug for Player {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Player").field("track", &self.track).finish()
    }
}

impl Player {
    pub fn start(config: PlayerConfig) -> Result<(Player, mpsc::UnboundedReceiver<PlayerEvent>), whatssound_audio::OutputError> {
        let (decks, incoming) = RingBuffer::new(4);
        let (retired_tx, retired) = RingBuffer::new(4);
        let paced = |wav| -> Box<dyn Output> {
            Box::new(PacedOutput { clock: config.clock.clone(), rate: RATE, channels: CHANNELS, period: 1024, wav })
        };
        let output: Box<dyn Output> = match &config.output {
            OutputKind::Null => paced(None),
            OutputKind::Wav(p) => paced(Some(p.clone())),
            OutputKind::Device(name) => {
                Box::new(DeviceOutput::open(config.clock.clone(), name.as_deref(), DEVICE_PERIOD)?.traced(config.device_trace.clone()))
            }
        };
        let rate = output.rate();
        let opus_kbps = match config.quality {
            Quality::Opus { kbps } => Some(kbps),
            Quality::Original | Quality::Auto { .. } => None,
        };
        let deck = Deck { incoming, retired: retired_tx, current: None };
        let playing = output.start(Box::new(Gain { inner: deck, volume: config.volume.clone() }))?;
        let (events, rx) = mpsc::unbounded_channel();
        let player = Player {
            config,
            rate,
            playing: Some(playing),
            decks,
            retired,
            control: None,
            track: None,
            clock_point: None,
            stop_decoding: Arc::new(AtomicBool::new(false)),
            events,
            room: Arc::default(),
            download: None,
            opus_kbps,
            prefetching: Arc::default(),
            stop_prefetch: Arc::default(),
            load_on_clock: false,
        };
        Ok((player, rx))
    }

    /// The track playing (or loading), if any.
    pub fn track(&self) -> Option<&TrackId> {
        self.track.as_ref()
    }

    /// The bitrate of the host's Opus copies this player fetches; `None`: the originals.
    pub fn opus_kbps(&self) -> Option<u32> {
        self.opus_kbps
    }

    /// The output's rate (frames per second).
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// How playback is going, for `sync` events and the UI's sync indicator.
    pub fn stats(&self) -> PlayStats {
        let engine = self.control.as_ref().map(|c| c.stats.clone());
        let get = |f: fn(&EngineStats) -> u64| engine.as_deref().map_or(0, f);
        PlayStats {
            error_ns: engine.as_deref().map(|s| s.error_ns.load(Ordering::Relaxed)),
            jumps: get(|s| s.jumps.load(Ordering::Relaxed)),
            trimmed_frames: get(|s| s.trimmed_frames.load(Ordering::Relaxed)),
            underruns: get(|s| s.underruns.load(Ordering::Relaxed)),
            device_errors: self.playing.as_ref().map_or(0, Playing::device_errors),
            device_rate_ppm: self.playing.as_ref().and_then(Playing::device_rate_ppm),
            device_latency_ns: self.playing.as_ref().and_then(Playing::device_latency_ns),
            started_at: engine.as_deref().and_then(EngineStats::started_at),
        }
    }

    /// The instant (on the player's clock) the output's first frame sounded.
    pub fn first_frame_at(&self) -> Option<Nanos> {
        self.playing.as_ref().and_then(Playing::first_frame_at)
    }

    /// Follows the room as its replica accepted it (a snapshot, or a diff): what plays from
    /// where, and where each track comes from.
    pub fn follow(&mut self, room: Arc<RoomState>) {
        let old = std::mem::replace(&mut self.room, room);
        // Most changes (chat, votes) leave the timeline as it was: the decks are not told again.
        if old.playback != self.room.playback {
            self.playback_changed(&old.playback);
        }
    }

    /// The room's clock estimate changed: local instant `local_ns` is host instant `host_ns`.
    pub fn set_clock(&mut self, local_ns: Nanos, host_ns: Nanos, drift_ppm: f64) {
        self.clock_point = Some((local_ns, host_ns, drift_ppm * 1e-6));
        if std::mem::take(&mut self.load_on_clock) {
            self.load_current();
        }
        self.send_timeline();
    }

    /// The room's playback changed from `old` (a diff or a snapshot).
    fn playback_changed(&mut self, old: &Playback) {
        while self.retired.pop().is_ok() {}
        let playback = self.room.playback.clone();
        // A new track, or a seek (the new anchor is not where the old timeline would be): start a
        // deck at the new position. The ring holds only what is just ahead, so a jump cannot reach it.
        let expected = old.position_at(playback.at_ms);
        let seeked = (i128::from(expected) - i128::from(playback.position_ms)).abs() > SEEK_MS;
        if playback.track != self.track || seeked {
            self.track = playback.track.clone();
            self.load_current();
        }
        self.send_timeline();
    }

    /// Starts a deck for the room's current track at its anchor (the engine plays on from
    /// there to where the room is), stopping the one before.
    fn load_current(&mut self) {
        self.stop_decoding.store(true, Ordering::Release);
        self.control = None;
        let playback = &self.room.playback;
        // Nothing can sound before the clock is known anyway; a copy waits for it to start near
        // the room (a member's first snapshot comes before its first clock estimate).
        self.load_on_clock = self.opus_kbps.is_some() && playback.playing && self.clock_point.is_none();
        if self.load_on_clock {
            return;
        }
        let source = playback.track.as_ref().and_then(|t| self.room.queue.get(t)).map(|t| (t.meta.source.clone(), t.meta.duration_ms));
        if let (Some(track), Some((source, duration_ms))) = (playback.track.clone(), source) {
            let start_frame = i64::try_from(playback.position_ms).unwrap_or(0) * i64::from(self.rate) / 1000;
            self.load(track, source, duration_ms, start_frame);
        }
    }

    /// Fetches the host's Opus copies from now on, the current track included, from near where
    /// the room is (the copy is timed as the original: the change is heard as a gap of a second
    /// or two, never as a jump in time).
    pub fn use_opus(&mut self, kbps: u32) {
        if self.opus_kbps.is_some() {
            return;
        }
        self.opus_kbps = Some(kbps);
        // The original of the next track would fill the thin link for nothing.
        self.stop_prefetch.store(true, Ordering::Release);
        self.stop_prefetch = Arc::default();
        if self.track.is_some() {
            self.load_current();
            self.send_timeline();
        }
    }

    fn send_timeline(&mut self) {
        let (Some(control), Some((local, host, drift))) = (self.control.as_mut(), self.clock_point) else {
            return;
        };
        let playback = &self.room.playback;
        let ms = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        control.set(Timeline {
            anchor_host_ns: ms(playback.at_ms).saturating_mul(1_000_000),
            anchor_frame: ms(playback.position_ms) * i64::from(self.rate) / 1000,
            playing: playback.playing,
            offset_ns: host - local,
            offset_at: local,
            drift,
            nudge_frames: self.config.nudge_ms * i64::from(self.rate) / 1000,
        });
    }

    /// Where a track's bytes are fetched from.
    fn url_of(&self, track: &TrackId, source: &TrackSource) -> String {
        match source {
            TrackSource::HostFile { .. } | TrackSource::Upload { .. } => {
                let url = fetch::media_url(self.config.route.ws(), track.as_str(), &self.config.token);
                match self.opus_kbps {
                    Some(kbps) => format!("{url}&format=opus&kbps={kbps}"),
                    None => url,
                }
            }
            TrackSource::Url { url } => url.clone(),
        }
    }

    /// Whether a track comes as the host's Opus copy (URL tracks come from elsewhere, as they are).
    fn is_copy(&self, source: &TrackSource) -> bool {
        self.opus_kbps.is_some() && !matches!(source, TrackSource::Url { .. })
    }

    /// Where the room is in the current track now, by the host's clock, once the clock is known.
    fn position_now_ms(&self) -> Option<u64> {
        if !self.room.playback.playing {
            return Some(self.room.playback.position_ms);
        }
        let (local, host, _) = self.clock_point?;
        let host_now_ms = (host + (self.config.clock.now() - local)) / 1_000_000;
        Some(self.room.playback.position_at(u64::try_from(host_now_ms).ok()?))
    }

    /// Fetches, checks and starts decoding a track on a thread; its deck goes to the output.
    fn load(&mut self, track: TrackId, source: TrackSource, duration_ms: Option<u64>, start_frame: i64) {
        let url = self.url_of(&track, &source);
        let copy = self.is_copy(&source);
        // A listener joining late on a thin link asks for the copy from a little before where the
        // room is, instead of downloading all that went before; unless the whole copy is here.
        let from_s = match self.position_now_ms() {
            Some(ms) if copy && ms >= COPY_FROM_MS && !fetch::is_cached(&self.config.cache_dir, &fetch::cache_key(&url)) => {
                ms / 1000 - COPY_LEAD_S
            }
            _ => 0,
        };
        let url = if from_s > 0 { format!("{url}&from_s={from_s}") } else { url };
        // The copy's first frame is the timeline's frame `first_frame`.
        let first_frame = i64::try_from(from_s).unwrap_or(0).saturating_mul(i64::from(self.rate));
        let start_frame = start_frame.max(first_frame);
        let extension = match &source {
            _ if copy => Some("opus".to_owned()),
            TrackSource::HostFile { file_name } => std::path::Path::new(file_name).extension().and_then(|e| e.to_str()).map(str::to_owned),
            TrackSource::Url { url } => url.rsplit('.').next().filter(|e| e.len() <= 4).map(str::to_owned),
            // The host probed the upload before taking it; the content tells its format.
            TrackSource::Upload { .. } => None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        self.stop_decoding = stop.clone();
        let out_rate = self.rate;
        let (ring_tx, ring_rx) = RingBuffer::new(AHEAD_FRAMES * usize::from(CHANNELS));
        let (control, render) = engine(ring_rx, out_rate, usize::from(CHANNELS), PlayoutConfig::default(), start_frame);
        self.control = Some(control);
        if self.decks.push(Box::new(render)).is_err() {
            let _ =
                self.events.send(PlayerEvent::Unplayable { track: track.clone(), reason: "the output is not taking new tracks".into() });
            return;
        }
        // Members pass on the originals, which the hash names; a copy comes from the host.
        let hash = self.room.queue.get(&track).filter(|_| !copy).and_then(|t| t.meta.hash.clone());
        // A download from the room's members starts slowly while the first pieces spread,
        // whatever the link: it is watched for longer before it is judged.
        let watch = if self.config.route.swarm().is_some() && hash.is_some() { WATCH_MEMBERS } else { WATCH_HOST };
        let meter = match (self.config.quality, copy, duration_ms) {
            (Quality::Auto { kbps }, false, Some(ms)) if !matches!(source, TrackSource::Url { .. }) => {
                Some((LinkMeter::new(Duration::from_millis(ms), watch), kbps))
            }
            _ => None,
        };
        let pace_kbps = if copy { self.opus_kbps } else { None };
        let bytes = self.download(&track, url, duration_ms, Fetching { hash, meter, pace_kbps });
        // An Ogg reader that may seek would wait for the copy's last page before its first sound.
        let reader = if copy { bytes.forward_reader() } else { bytes.reader() };
        let events = self.events.clone();
        std::thread::spawn(move || {
            let name = track.to_string();
            // Opening reads the first packets, so it waits for them here, off the runtime.
            let opened =
                Decoder::open(Box::new(reader), extension.as_deref(), name).map_err(DeckError::from).and_then(|d| match d.rate() {
                    rate if rate == out_rate => Ok((d, None)),
                    rate => Ok((d, Some(Resampler::new(rate, out_rate, usize::from(CHANNELS))?))),
                });
            let result = match opened {
                Ok((decoder, resampler)) => {
                    let _ = events.send(PlayerEvent::Ready { track: track.clone(), rate: decoder.rate() });
                    decode_into(decoder, resampler, ring_tx, &stop, start_frame - first_frame)
                }
                Err(reason) => Err(reason),
            };
            if let Err(e) = result
                && !stop.load(Ordering::Acquire)
            {
                // A failed download is the cause; the decoder only saw its bytes stop.
                let reason = bytes.failure().unwrap_or_else(|| e.to_string());
                let _ = events.send(PlayerEvent::Unplayable { track, reason });
            }
        });
    }

    /// The track's bytes: the download already under way for it (a seek reads the same bytes
    /// again), or a new one, streamed into memory and the cache as they arrive. A `meter` judges
    /// the link by this download, and says so if it is too thin for the track.
    fn download(&mut self, track: &TrackId, url: String, duration_ms: Option<u64>, fetching: Fetching) -> ArrivingBytes {
        let Fetching { hash, mut meter, pace_kbps } = fetching;
        if let Some((u, bytes)) = &self.download
            && *u == url
            && bytes.failure().is_none()
        {
            return bytes.clone();
        }
        let (arrival, bytes) = arriving();
        self.download = Some((url.clone(), bytes.clone()));
        let events = self.events.clone();
        let cache = self.config.cache_dir.clone();
        let key = fetch::cache_key(&url);
        // The track after this one, fetched into the cache once this one is whole, so a track
        // change on a slow or failing network starts from disk (and never competes with the
        // track that is playing for the link).
        let next = self
            .room
            .queue
            .position(track)
            .and_then(|i| self.room.queue.iter().nth(i + 1))
            .map(|t| (t.id.clone(), self.url_of(&t.id, &t.meta.source), t.meta.hash.clone().filter(|_| !self.is_copy(&t.meta.source))));
        let (prefetching, stop_prefetch) = (self.prefetching.clone(), self.stop_prefetch.clone());
        let ahead = bytes.clone();
        let hold = move || {
            let bytes_per_s = f64::from(pace_kbps?) * 125.0;
            (ahead.unread() as f64 / bytes_per_s > COPY_AHEAD_S).then_some(Duration::from_millis(250))
        };
        let swarm = self.config.route.swarm().cloned();
        let track = track.clone();
        tokio::spawn(async move {
            let mut last = Progress { bytes: 0, total: None };
            let streamed = fetch::stream_track(
                from_room(&swarm, &hash),
                &url,
                &cache,
                &key,
                |data, p| {
                    last = p;
                    if p.bytes == data.len() as u64 {
                        arrival.expect(p.total);
                    }
                    arrival.append(data);
                    let buffered_ms = duration_ms
                        .zip(p.total)
                        .filter(|(_, total)| *total > 0)
                        .map(|(ms, total)| (u128::from(ms) * u128::from(p.bytes) / u128::from(total)) as u64);
                    let _ = events.send(PlayerEvent::Buffering { track: track.clone(), progress: p, buffered_ms });
                    if let Some((m, _)) = meter.as_mut()
                        && prefetching.load(Ordering::Acquire)
                    {
                        m.restart();
                    } else if let Some((m, opus_kbps)) = meter.as_mut()
                        && let Some(TooThin { link_kbps, needed_kbps }) = m.arrived(std::time::Instant::now(), p.bytes, p.total)
                    {
                        let _ =
                            events.send(PlayerEvent::LinkTooThin { track: track.clone(), link_kbps, needed_kbps, opus_kbps: *opus_kbps });
                    }
                    // Nobody is left to read on: the track changed.
                    !arrival.abandoned()
                },
                hold,
            )
            .await;
            match streamed {
                Ok(fetch::Fetched::Whole) => {
                    arrival.finish();
                    // A copy sent as it is made had no length up front: now it has one.
                    if last.total.is_none() {
                        let progress = Progress { total: Some(last.bytes), ..last };
                        let _ = events.send(PlayerEvent::Buffering { track: track.clone(), progress, buffered_ms: duration_ms });
                    }
                }
                Ok(fetch::Fetched::Stopped) => return,
                Err(e) => return arrival.fail(e.to_string()),
            }
            if let Some((next, url, next_hash)) = next {
                let key = fetch::cache_key(&url);
                // Failing here costs nothing: the track is fetched again when it comes up, and
                // says then what is wrong.
                let mut seen = Progress { bytes: 0, total: None };
                prefetching.store(true, Ordering::Release);
                let fetched = fetch::stream_track(
                    from_room(&swarm, &next_hash),
                    &url,
                    &cache,
                    &key,
                    |_, p| {
                        seen = p;
                        !stop_prefetch.load(Ordering::Acquire)
                    },
                    || None,
                )
                .await;
                prefetching.store(false, Ordering::Release);
                match fetched {
                    Ok(fetch::Fetched::Whole) => {
                        let progress = Progress { total: seen.total.or(Some(seen.bytes)), ..seen };
                        let _ = events.send(PlayerEvent::Buffering { track: next, progress, buffered_ms: None });
                    }
                    Ok(fetch::Fetched::Stopped) => {}
                    Err(e) => tracing::info!(track = %next, "the next track was not fetched ahead: {e}"),
                }
            }
        });
        bytes
    }

    /// Stops the output (finishing a WAV file).
    pub fn stop(mut self) -> Result<(), whatssound_audio::OutputError> {
        self.stop_decoding.store(true, Ordering::Release);
        match self.playing.take() {
            Some(p) => p.stop(),
            None => Ok(()),
        }
    }
}

/// How a track's download goes: from the members who hold `hash`, judged by `meter` (with the
/// Opus bitrate to change to), and, when it is a copy at `pace_kbps`, held [`COPY_AHEAD_S`] ahead.
struct Fetching {
    hash: Option<String>,
    meter: Option<(LinkMeter, u32)>,
    pace_kbps: Option<u32>,
}

/// The room's swarm and the track's hash, when a track can come from the members who have it.
fn from_room<'a>(swarm: &'a Option<whatssound_swarm::Swarm>, hash: &'a Option<String>) -> Option<(&'a whatssound_swarm::Swarm, &'a str)> {
    swarm.as_ref().zip(hash.as_deref())
}

#[cfg(test)]
#[path = "player_tests.rs"]
mod tests;
