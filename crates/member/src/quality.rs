//! Which copy of a track a member fetches: the host's original, or an Opus copy for a link too
//! thin for it, chosen by measuring the link while a track downloads.
//!
//! Peers cannot help a listener whose own link is the bottleneck (a FLAC of ~1 Mbit/s over a
//! 600 kbit/s hotel Wi-Fi): the bytes must get smaller. [`LinkMeter`] watches a download of the
//! original (from the host, or from the room's members, for longer) and says, once it has seen
//! enough, whether it arrives fast enough to play; when it
//! does not, the player changes to the host's Opus copy at the same position (the copy is timed
//! exactly like the original, so the switch is a seek to where the room is, not a jump in time).
//! A member that has changed stays on Opus for the session: a link that was too thin once is
//! likely to be again, and flapping between copies would cost more than it saves.

use std::time::{Duration, Instant};

use whatssound_audio::{OPUS_DEFAULT_KBPS, OPUS_KBPS, opus_bitrate};

/// What a member asks the host for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    /// Always the original file.
    Original,
    /// Always the Opus copy at `kbps`.
    Opus { kbps: u32 },
    /// The original, until a download shows the link cannot carry it; then Opus at `kbps`.
    Auto { kbps: u32 },
}

impl Default for Quality {
    fn default() -> Self {
        Quality::Auto { kbps: OPUS_DEFAULT_KBPS }
    }
}

/// A quality that does not read as one, and how to write it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadQuality {
    #[error("{given:?}: the Opus bitrate must be a number of kbit/s from {low} to {high}", given = .0, low = OPUS_KBPS[0], high = OPUS_KBPS[OPUS_KBPS.len() - 1])]
    Bitrate(String),
    #[error("{0:?} is not a quality: use auto, original or opus (with :KBPS for auto or opus)")]
    Kind(String),
}

impl std::str::FromStr for Quality {
    type Err = BadQuality;

    /// `auto`, `original`, `opus`, or either of those with a bitrate: `opus:64`, `auto:128`.
    fn from_str(s: &str) -> Result<Self, BadQuality> {
        let (kind, kbps) = match s.split_once(':') {
            Some((kind, kbps)) => {
                let kbps = kbps.parse::<u32>().ok().and_then(opus_bitrate).ok_or_else(|| BadQuality::Bitrate(s.to_owned()))?;
                (kind, Some(kbps))
            }
            None => (s, None),
        };
        let kbps = kbps.unwrap_or(OPUS_DEFAULT_KBPS);
        match kind {
            "auto" => Ok(Quality::Auto { kbps }),
            "opus" => Ok(Quality::Opus { kbps }),
            "original" if s == "original" => Ok(Quality::Original),
            _ => Err(BadQuality::Kind(s.to_owned())),
        }
    }
}

/// The link is too thin for the original: it came at `link_kbps`, and playing needs `needed_kbps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooThin {
    pub link_kbps: u64,
    pub needed_kbps: u64,
}

/// Measures one download of an original against what playing it needs.
#[derive(Debug, Clone)]
pub struct LinkMeter {
    duration: Duration,
    watch: Duration,
    first_byte: Option<(Instant, u64)>,
    decided: bool,
}

/// How long a download from the host is watched before it is judged: long enough for TCP (or
/// QUIC) to have opened its window, short enough that a listener hears only a moment of waiting.
pub const WATCH_HOST: Duration = Duration::from_secs(2);
/// How long a download from the room's members is watched: its first pieces come slowly while
/// they spread through the room (in a room of 30 the first seconds can bring little, whatever the
/// link), so only a rate held this long says the link itself is thin.
pub const WATCH_MEMBERS: Duration = Duration::from_secs(8);
/// The link must carry the track this much faster than it plays: a link at exactly the track's
/// rate has nothing to spare for the room's own messages or a bad second.
const HEADROOM: f64 = 1.25;

impl LinkMeter {
    /// A meter for a track that plays for `duration`, judging after `watch` ([`WATCH_HOST`] or
    /// [`WATCH_MEMBERS`]).
    pub fn new(duration: Duration, watch: Duration) -> Self {
        LinkMeter { duration, watch, first_byte: None, decided: false }
    }

    /// Forgets what it has seen: the link was shared (with the next track's download) and the
    /// rate seen so far is not the link's.
    pub fn restart(&mut self) {
        self.first_byte = None;
    }

    /// `bytes` of `total` have arrived by `now`. Says, once, that the link is too thin; says
    /// nothing while it is still watching, or ever again once it has judged.
    pub fn arrived(&mut self, now: Instant, bytes: u64, total: Option<u64>) -> Option<TooThin> {
        let (Some(total @ 1..), false) = (total, self.decided) else { return None };
        // Timed from the first bytes, not the request: the time to reach the host is not the
        // link's rate.
        let (start, at_start) = *self.first_byte.get_or_insert((now, bytes));
        let watched = now.saturating_duration_since(start);
        if bytes >= total {
            self.decided = true;
            return None;
        }
        if watched < self.watch || self.duration.is_zero() {
            return None;
        }
        self.decided = true;
        let link_kbps = (bytes - at_start) as f64 * 8.0 / watched.as_secs_f64() / 1000.0;
        let needed_kbps = total as f64 * 8.0 / self.duration.as_secs_f64() / 1000.0;
        (link_kbps < needed_kbps * HEADROOM).then_some(TooThin { link_kbps: link_kbps as u64, needed_kbps: needed_kbps.ceil() as u64 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds a meter a download of `total` bytes arriving at `bytes_per_s`, in 64 KiB chunks.
    fn judge(total: u64, track_s: u64, bytes_per_s: u64) -> Option<TooThin> {
        let mut meter = LinkMeter::new(Duration::from_secs(track_s), WATCH_HOST);
        let t0 = Instant::now();
        // The first chunk waits for the connection; the rate counts from it.
        let mut at = t0 + Duration::from_millis(700);
        let mut bytes = 0;
        while bytes < total {
            bytes = (bytes + 65_536).min(total);
            if let Some(verdict) = meter.arrived(at, bytes, Some(total)) {
                return Some(verdict);
            }
            at += Duration::from_secs_f64(65_536.0 / bytes_per_s as f64);
        }
        None
    }

    #[test]
    fn a_flac_over_a_thin_link_is_too_thin_and_over_a_good_one_is_not() {
        // A 4-minute FLAC at 1,000 kbit/s: 30 MB.
        let flac = 30_000_000;
        let verdict = judge(flac, 240, 75_000).expect("600 kbit/s cannot carry 1,000");
        assert!((590..=610).contains(&verdict.link_kbps), "{verdict:?}");
        assert_eq!(verdict.needed_kbps, 1000);
        assert!(judge(flac, 240, 140_000).is_some(), "1,120 kbit/s leaves less than a quarter to spare");
        assert_eq!(judge(flac, 240, 200_000), None, "1,600 kbit/s carries it");
        assert_eq!(judge(400_000, 240, 60_000), None, "a small file is whole before it is judged");
    }

    #[test]
    fn a_download_from_the_members_is_judged_on_what_eight_seconds_brought() {
        // A slow start (the first pieces spreading) then the link's full rate: fine over 8 s.
        let mut meter = LinkMeter::new(Duration::from_secs(60), WATCH_MEMBERS);
        let t0 = Instant::now();
        let need = 8_700_000 / 60; // bytes a second the track plays at
        assert_eq!(meter.arrived(t0, 16_384, Some(8_700_000)), None);
        assert_eq!(meter.arrived(t0 + Duration::from_secs(3), 100_000, Some(8_700_000)), None, "a slow start is not judged");
        assert_eq!(meter.arrived(t0 + Duration::from_secs(8), 100_000 + 5 * 4 * need, Some(8_700_000)), None);
        // Thin all along: judged once the 8 s are up.
        let mut meter = LinkMeter::new(Duration::from_secs(60), WATCH_MEMBERS);
        assert_eq!(meter.arrived(t0, 16_384, Some(8_700_000)), None);
        assert_eq!(meter.arrived(t0 + Duration::from_secs(7), 16_384 + 7 * need / 2, Some(8_700_000)), None);
        assert!(meter.arrived(t0 + Duration::from_secs(8), 16_384 + 8 * need / 2, Some(8_700_000)).is_some());
    }

    #[test]
    fn a_meter_judges_once_and_needs_a_length() {
        let mut meter = LinkMeter::new(Duration::from_secs(100), WATCH_HOST);
        let t0 = Instant::now();
        assert_eq!(meter.arrived(t0, 1_000, None), None, "no length: no judgement");
        assert_eq!(meter.arrived(t0, 1_000, Some(10_000_000)), None);
        assert!(meter.arrived(t0 + Duration::from_secs(3), 2_000, Some(10_000_000)).is_some());
        assert_eq!(meter.arrived(t0 + Duration::from_secs(4), 3_000, Some(10_000_000)), None, "said once");

        let mut meter = LinkMeter::new(Duration::ZERO, WATCH_HOST);
        assert_eq!(meter.arrived(t0, 1, Some(10)), None);
        assert_eq!(meter.arrived(t0 + Duration::from_secs(3), 2, Some(10)), None, "a track of no length needs nothing");
        let mut meter = LinkMeter::new(Duration::from_secs(100), WATCH_HOST);
        assert_eq!(meter.arrived(t0 + Duration::from_secs(3), 0, Some(0)), None, "an empty track is whole");
    }

    #[test]
    fn a_meter_restarted_while_the_link_was_shared_judges_only_what_followed() {
        let mut meter = LinkMeter::new(Duration::from_secs(100), WATCH_HOST);
        let t0 = Instant::now();
        meter.arrived(t0, 0, Some(10_000_000));
        meter.restart();
        // Restarted as the link was shared: the rate is that of the 2 s after the first bytes seen since.
        assert_eq!(meter.arrived(t0 + Duration::from_secs(1), 10_000, Some(10_000_000)), None);
        let verdict = meter.arrived(t0 + Duration::from_secs(3), 210_000, Some(10_000_000)).unwrap();
        assert_eq!(verdict.link_kbps, 800);
    }

    #[test]
    fn qualities_read_as_the_cli_writes_them() {
        assert_eq!("auto".parse(), Ok(Quality::Auto { kbps: 96 }));
        assert_eq!("opus:64".parse(), Ok(Quality::Opus { kbps: 64 }));
        assert_eq!("opus:100".parse(), Ok(Quality::Opus { kbps: 96 }), "the step below");
        assert_eq!("auto:128".parse(), Ok(Quality::Auto { kbps: 128 }));
        assert_eq!("original".parse(), Ok(Quality::Original));
        for bad in ["opus:8", "opus:x", "mp3", "original:96"] {
            let err = bad.parse::<Quality>().unwrap_err().to_string();
            assert!(err.starts_with(&format!("{bad:?}")), "{err}");
        }
    }
}
