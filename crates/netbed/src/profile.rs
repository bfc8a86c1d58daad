//! The networks listeners meet, as numbers: a named [`Profile`] per kind of access link.
//!
//! | profile    | each way                 | loss  | also                                   |
//! |------------|--------------------------|-------|----------------------------------------|
//! | `lan`      | 0.1 ms ± 0.05            | 0     | (a 0.2 ms round trip)                  |
//! | `wifi`     | 3 ms ± 3                 | 0.5 % | the air stalls for 30 ms every 2–6 s   |
//! | `internet` | 40 ms ± 8, 10 % asymmetry | 1 %   | up 44 ms, down 36 ms                   |
//! | `bad`      | 120 ms ± 40              | 3 %   |                                        |
//!
//! Jitter is drawn uniformly within ± its figure, and a link never reorders (see [`crate::link`]).
//! Any profile can also be written out, `delay=20,jitter=5,loss=0.01,up=30,down=10`, for the
//! asymmetric and one-off paths benchmarks need.

use std::fmt;
use std::str::FromStr;

/// Which way a packet goes on a listener's access link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the listener towards the internet.
    Up,
    Down,
}

/// One direction's delay, jitter and loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkSpec {
    pub delay_ms: f64,
    /// Each packet's delay is drawn from `delay ± jitter`.
    pub jitter_ms: f64,
    /// The chance a packet is lost, 0–1.
    pub loss: f64,
}

/// The medium going busy now and then (Wi-Fi).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StallSpec {
    /// A stall starts this long after the last one ended, drawn uniformly.
    pub every_min_ms: f64,
    pub every_max_ms: f64,
    pub length_ms: f64,
}

/// An access link, both ways.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    pub up: LinkSpec,
    pub down: LinkSpec,
    pub stalls: Option<StallSpec>,
}

/// A profile that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0}: a network profile is lan, wifi, internet or bad, or key=value pairs (delay, jitter, loss, up, down, stall, stall_every) such as delay=20,jitter=5,loss=0.01"
)]
pub struct ProfileError(String);

impl Profile {
    fn symmetric(delay_ms: f64, jitter_ms: f64, loss: f64) -> Profile {
        let link = LinkSpec { delay_ms, jitter_ms, loss };
        Profile { up: link, down: link, stalls: None }
    }

    pub fn lan() -> Profile {
        Profile::symmetric(0.1, 0.05, 0.0)
    }

    pub fn wifi() -> Profile {
        Profile {
            stalls: Some(StallSpec { every_min_ms: 2_000.0, every_max_ms: 6_000.0, length_ms: 30.0 }),
            ..Profile::symmetric(3.0, 3.0, 0.005)
        }
    }

    pub fn internet() -> Profile {
        let mut p = Profile::symmetric(40.0, 8.0, 0.01);
        p.up.delay_ms = 44.0;
        p.down.delay_ms = 36.0;
        p
    }

    pub fn bad() -> Profile {
        Profile::symmetric(120.0, 40.0, 0.03)
    }

    /// Half the difference between the two directions' delays: the most any two-way clock
    /// estimate can be wrong by on this path, since it cannot see which way the time went.
    pub fn half_asymmetry_ms(&self) -> f64 {
        (self.up.delay_ms - self.down.delay_ms).abs() / 2.0
    }

    /// `key=value,…` over a plain path: `delay` and `jitter` (ms, both ways), `loss` (0–1),
    /// `up`/`down` (ms, one way), `stall` (ms) and `stall_every` (ms between stalls).
    fn from_pairs(text: &str) -> Result<Profile, ProfileError> {
        let mut p = Profile::symmetric(0.0, 0.0, 0.0);
        let mut stall_ms = None;
        let mut stall_every = 4_000.0;
        for pair in text.split(',').filter(|s| !s.trim().is_empty()) {
            let (key, value) = pair.split_once('=').ok_or_else(|| ProfileError(format!("{pair:?} is not key=value")))?;
            let value: f64 = value
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| ProfileError(format!("{pair:?} needs a number of at least 0")))?;
            match key.trim() {
                "delay" => (p.up.delay_ms, p.down.delay_ms) = (value, value),
                "jitter" => (p.up.jitter_ms, p.down.jitter_ms) = (value, value),
                "loss" if value <= 1.0 => (p.up.loss, p.down.loss) = (value, value),
                "loss" => return Err(ProfileError(format!("{pair:?}: loss is a share, 0 to 1"))),
                "up" => p.up.delay_ms = value,
                "down" => p.down.delay_ms = value,
                "stall" => stall_ms = Some(value),
                "stall_every" => stall_every = value,
                other => return Err(ProfileError(format!("{other:?} is not a profile key"))),
            }
        }
        p.stalls = stall_ms.map(|length_ms| StallSpec { every_min_ms: stall_every / 2.0, every_max_ms: stall_every * 1.5, length_ms });
        Ok(p)
    }
}

impl FromStr for Profile {
    type Err = ProfileError;

    fn from_str(s: &str) -> Result<Profile, ProfileError> {
        match s.trim() {
            "lan" => Ok(Profile::lan()),
            "wifi" => Ok(Profile::wifi()),
            "internet" => Ok(Profile::internet()),
            "bad" => Ok(Profile::bad()),
            pairs if pairs.contains('=') => Profile::from_pairs(pairs),
            other => Err(ProfileError(format!("{other:?} is not a profile"))),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let link = |l: &LinkSpec| format!("{} ms ± {} ({} % loss)", l.delay_ms, l.jitter_ms, l.loss * 100.0);
        write!(f, "up {}, down {}", link(&self.up), link(&self.down))?;
        if let Some(s) = self.stalls {
            write!(f, ", {} ms stalls every {}–{} ms", s.length_ms, s.every_min_ms, s.every_max_ms)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_profiles_read_as_the_table_says() {
        assert_eq!("lan".parse::<Profile>(), Ok(Profile::lan()));
        let internet: Profile = "internet".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((internet.up.delay_ms, internet.down.delay_ms, internet.up.loss), (44.0, 36.0, 0.01));
        assert_eq!(internet.half_asymmetry_ms(), 4.0);
        let wifi = Profile::wifi();
        assert_eq!(wifi.stalls.map(|s| s.length_ms), Some(30.0));
    }

    #[test]
    fn pairs_build_a_one_off_path() {
        let p: Profile = "delay=20,jitter=5,up=30,down=10,loss=0.02,stall=50".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.up, LinkSpec { delay_ms: 30.0, jitter_ms: 5.0, loss: 0.02 });
        assert_eq!(p.down.delay_ms, 10.0);
        assert_eq!(p.stalls, Some(StallSpec { every_min_ms: 2_000.0, every_max_ms: 6_000.0, length_ms: 50.0 }));
    }

    #[test]
    fn a_bad_profile_says_what_is_wrong_and_what_is_allowed() {
        for (text, says) in [
            ("cable", "\"cable\" is not a profile"),
            ("delay=-1", "needs a number"),
            ("delay", "not a profile"),
            ("loss=2", "loss is a share"),
            ("speed=3", "\"speed\" is not a profile key"),
            ("delay=20,jitter", "is not key=value"),
        ] {
            let e = text.parse::<Profile>().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains(says) && e.contains("lan, wifi, internet or bad"), "{text}: {e}");
        }
    }
}
