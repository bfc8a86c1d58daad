//! What a path does to each packet: dropped, or released at an instant. Pure: the caller brings
//! the clock and the dice.
//!
//! A real path is a chain of FIFO queues, so it delays packets by varying amounts but does not
//! reorder them (TCP would read reordering as loss and retransmit, which no Wi-Fi link causes).
//! Each [`Link`] therefore releases a packet no earlier than the one before it: a packet drawn a
//! short delay behind one drawn a long delay waits for it, as it would behind it in a router's
//! queue. That is also why jitter here raises the mean delay a little under load, as it does on
//! real links.
//!
//! Wi-Fi adds *stalls*: every few seconds the medium is busy (a neighbour's burst, a scan, a
//! retransmission train) and nothing passes for ~30 ms; what arrived meanwhile goes out together
//! when it clears. [`Path`] holds one [`Stalls`] schedule for both directions, since the air is
//! shared.

use rand::Rng;

use crate::profile::{Direction, LinkSpec, Profile, StallSpec};

/// Nanoseconds on the caller's monotonic clock.
pub type Nanos = i64;

const MS: f64 = 1e6;

/// What becomes of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Drop,
    /// Pass it on at this instant (never before an earlier packet on the same link).
    ReleaseAt(Nanos),
}

/// One direction of a path.
#[derive(Debug, Clone)]
pub struct Link {
    spec: LinkSpec,
    last_release: Nanos,
}

impl Link {
    pub fn new(spec: LinkSpec) -> Link {
        Link { spec, last_release: Nanos::MIN }
    }

    /// The fate of a packet that arrives at `now`, no earlier than `clear_at` (a stall's end).
    fn admit(&mut self, now: Nanos, clear_at: Nanos, rng: &mut impl Rng) -> Fate {
        if self.spec.loss > 0.0 && rng.random_bool(self.spec.loss.min(1.0)) {
            return Fate::Drop;
        }
        let jitter = if self.spec.jitter_ms > 0.0 { rng.random_range(-self.spec.jitter_ms..=self.spec.jitter_ms) } else { 0.0 };
        let delay = ((self.spec.delay_ms + jitter).max(0.0) * MS) as Nanos;
        // A busy medium holds the packet at the sender; the path's delay starts once it is clear.
        let at = (now.max(clear_at) + delay).max(self.last_release);
        self.last_release = at;
        Fate::ReleaseAt(at)
    }
}

/// When the medium is next busy, and until when.
#[derive(Debug, Clone)]
pub struct Stalls {
    spec: StallSpec,
    /// The current or next stall: `[start, end)`.
    start: Nanos,
    end: Nanos,
}

impl Stalls {
    fn new(spec: StallSpec, now: Nanos, rng: &mut impl Rng) -> Stalls {
        let mut s = Stalls { spec, start: 0, end: 0 };
        s.schedule_after(now, rng);
        s
    }

    fn schedule_after(&mut self, after: Nanos, rng: &mut impl Rng) {
        let gap = rng.random_range(self.spec.every_min_ms..=self.spec.every_max_ms);
        self.start = after + (gap * MS) as Nanos;
        self.end = self.start + (self.spec.length_ms * MS) as Nanos;
    }

    /// The instant before which nothing arriving at `now` may leave.
    fn clear_at(&mut self, now: Nanos, rng: &mut impl Rng) -> Nanos {
        while now >= self.end {
            let end = self.end;
            self.schedule_after(end, rng);
        }
        if now >= self.start { self.end } else { now }
    }
}

/// Both directions of one access link (a listener's Wi-Fi or uplink), as a profile describes.
#[derive(Debug, Clone)]
pub struct Path {
    up: Link,
    down: Link,
    stalls: Option<Stalls>,
}

impl Path {
    pub fn new(profile: &Profile, now: Nanos, rng: &mut impl Rng) -> Path {
        Path { up: Link::new(profile.up), down: Link::new(profile.down), stalls: profile.stalls.map(|s| Stalls::new(s, now, rng)) }
    }

    /// The fate of a packet arriving at `now` going `direction`.
    pub fn admit(&mut self, direction: Direction, now: Nanos, rng: &mut impl Rng) -> Fate {
        let clear_at = match &mut self.stalls {
            Some(s) => s.clear_at(now, rng),
            None => now,
        };
        match direction {
            Direction::Up => self.up.admit(now, clear_at, rng),
            Direction::Down => self.down.admit(now, clear_at, rng),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;

    fn released(f: Fate) -> Nanos {
        match f {
            Fate::ReleaseAt(at) => at,
            Fate::Drop => panic!("dropped"),
        }
    }

    fn spec(delay_ms: f64, jitter_ms: f64, loss: f64) -> LinkSpec {
        LinkSpec { delay_ms, jitter_ms, loss }
    }

    #[test]
    fn a_fixed_delay_is_added_to_every_packet() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut link = Link::new(spec(40.0, 0.0, 0.0));
        for now in [0, 1_000, 5_000_000] {
            assert_eq!(released(link.admit(now, now, &mut rng)), now + 40_000_000);
        }
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_never_reorders() {
        let mut rng = SmallRng::seed_from_u64(2);
        let mut link = Link::new(spec(20.0, 5.0, 0.0));
        let mut last = Nanos::MIN;
        let mut delays = Vec::new();
        // One packet every 10 ms: sparse enough that order seldom holds a packet back.
        for i in 0..2_000 {
            let now = i * 10_000_000;
            let at = released(link.admit(now, now, &mut rng));
            assert!(at >= last, "packet {i} released before the one ahead of it");
            last = at;
            delays.push((at - now) as f64 / MS);
        }
        let min = delays.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = delays.iter().cloned().fold(0.0, f64::max);
        let mean = delays.iter().sum::<f64>() / delays.len() as f64;
        assert!(min >= 15.0 && max <= 25.0 + 1e-9, "delays {min}..{max}");
        assert!((min - 15.0).abs() < 0.2 && (max - 25.0).abs() < 0.2, "the whole ±5 ms is used: {min}..{max}");
        assert!((mean - 20.0).abs() < 0.3, "mean {mean}");
    }

    #[test]
    fn a_packet_behind_a_slow_one_waits_for_it() {
        let mut rng = SmallRng::seed_from_u64(3);
        let mut link = Link::new(spec(10.0, 0.0, 0.0));
        let first = released(link.admit(0, 50_000_000, &mut rng)); // held by a stall to 50 ms
        let second = released(link.admit(1_000_000, 1_000_000, &mut rng));
        assert_eq!(first, 60_000_000);
        assert_eq!(second, first, "the second may not overtake the first");
    }

    #[test]
    fn loss_drops_about_its_share() {
        let mut rng = SmallRng::seed_from_u64(4);
        let mut link = Link::new(spec(1.0, 0.0, 0.03));
        let dropped = (0..100_000).filter(|&i| link.admit(i, i, &mut rng) == Fate::Drop).count();
        assert!((2_700..3_300).contains(&dropped), "{dropped} of 100,000 dropped at 3 %");
    }

    #[test]
    fn a_stall_holds_everything_that_arrives_in_it_until_it_clears() {
        let mut rng = SmallRng::seed_from_u64(5);
        let profile = Profile {
            up: spec(3.0, 0.0, 0.0),
            down: spec(3.0, 0.0, 0.0),
            stalls: Some(StallSpec { every_min_ms: 1_000.0, every_max_ms: 1_000.0, length_ms: 30.0 }),
        };
        let mut path = Path::new(&profile, 0, &mut rng);
        // The first stall is 1,000–1,030 ms, the next 2,030–2,060 ms.
        let at = |path: &mut Path, rng: &mut SmallRng, ms: f64, d| released(path.admit(d, (ms * MS) as Nanos, rng));
        assert_eq!(at(&mut path, &mut rng, 500.0, Direction::Up), 503_000_000);
        assert_eq!(at(&mut path, &mut rng, 1_005.0, Direction::Up), 1_033_000_000);
        assert_eq!(at(&mut path, &mut rng, 1_010.0, Direction::Down), 1_033_000_000, "the air is shared");
        assert_eq!(at(&mut path, &mut rng, 1_029.0, Direction::Up), 1_033_000_000);
        assert_eq!(at(&mut path, &mut rng, 1_500.0, Direction::Up), 1_503_000_000);
        assert_eq!(at(&mut path, &mut rng, 2_040.0, Direction::Down), 2_063_000_000);
    }
}
