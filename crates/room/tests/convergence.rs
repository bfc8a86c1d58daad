//! Property: whatever the network does to intents and diffs — duplicates, delays, reordering —
//! every replica ends with exactly the authority's state, and every intent takes effect once.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use whatssound_room::{Action, Engine, Intent, Output, Position, Replica, ReplicaEvent, RoomSettings, TrackMeta, TrackSource, UserId};

const USERS: [&str; 4] = ["HOST", "ANN", "BOB", "CAT"];

#[derive(Debug, Clone)]
enum Step {
    /// User `u` sends intent number `n` (a re-send when that number was sent before).
    Send { u: usize, n: u8, kind: u8, arg: u8 },
    /// Replica `r` receives the diff at position `pick` among those in flight to it, leaving a
    /// duplicate behind when `dup`.
    Deliver { r: usize, pick: usize, dup: bool },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..USERS.len(), 0u8..40, 0u8..8, any::<u8>()).prop_map(|(u, n, kind, arg)| Step::Send { u, n, kind, arg }),
        (0..3usize, any::<usize>(), prop::bool::weighted(0.2)).prop_map(|(r, pick, dup)| Step::Deliver { r, pick, dup }),
    ]
}

/// The intent a (user, number) always means, so a re-send is byte-identical.
fn intent(u: usize, n: u8, kind: u8, arg: u8) -> Intent {
    let track = format!("t{}", arg % 6 + 1);
    let action = match kind {
        0 | 1 => Action::Enqueue {
            track: TrackMeta {
                title: format!("{}-{n}", USERS[u]),
                artist: None,
                album: None,
                duration_ms: Some(100_000),
                source: TrackSource::Url { url: format!("https://x/{n}") },
                hash: None,
            },
            position: Position::Append,
        },
        2 => Action::Chat { text: format!("{} says {n}", USERS[u]) },
        3 => Action::Vote { track: track.into(), up: arg.is_multiple_of(2) },
        4 => Action::Remove { track: track.into() },
        5 => Action::Move { track: track.into(), to: usize::from(arg % 3) },
        6 => [Action::Play, Action::Pause, Action::Skip, Action::Seek { ms: u64::from(arg) * 100 }][usize::from(arg % 4)].clone(),
        _ => Action::React { emoji: "🎉".into() },
    };
    Intent { id: format!("{}-{n}", USERS[u]).into(), name: USERS[u].into(), action }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_and_intents_apply_once(steps in prop::collection::vec(step(), 1..250)) {
        let host: UserId = USERS[0].into();
        let mut engine = Engine::new(host, RoomSettings::default());
        engine.set_present(USERS.iter().map(|u| UserId::from(*u)).collect());
        let mut replicas: Vec<Replica> = (0..3).map(|_| Replica::default()).collect();
        let mut in_flight: Vec<Vec<whatssound_room::Diff>> = vec![Vec::new(); 3];
        let mut sent = std::collections::HashMap::new();
        let mut now = 0;
        for r in &mut replicas {
            r.receive_snapshot(engine.state().clone());
        }
        for step in steps {
            now += 37;
            match step {
                Step::Send { u, n, kind, arg } => {
                    // A re-send repeats the original intent exactly (the outbox keeps it).
                    let (kind, arg) = *sent.entry((u, n)).or_insert((kind, arg));
                    for out in engine.handle(&USERS[u].into(), intent(u, n, kind, arg), now) {
                        if let Output::Diff(d) = out {
                            for q in &mut in_flight { q.push(d.clone()); }
                        }
                    }
                }
                Step::Deliver { r, pick, dup } => {
                    if in_flight[r].is_empty() { continue; }
                    let i = pick % in_flight[r].len();
                    let d = if dup { in_flight[r][i].clone() } else { in_flight[r].remove(i) };
                    if let ReplicaEvent::NeedSnapshot(_) = replicas[r].receive_diff(&d) {
                        // The re-mount: a fresh snapshot; what is still in flight is older or newer.
                        replicas[r].receive_snapshot(engine.state().clone());
                    }
                }
            }
        }
        // The network heals: everything still in flight arrives, in order.
        for (r, q) in in_flight.iter_mut().enumerate() {
            q.sort_by_key(|d| d.seq);
            for d in q.drain(..) {
                if replicas[r].seq().is_some_and(|s| d.seq <= s) { continue; }
                if let ReplicaEvent::NeedSnapshot(_) = replicas[r].receive_diff(&d) {
                    replicas[r].receive_snapshot(engine.state().clone());
                }
            }
            prop_assert_eq!(replicas[r].state(), Some(engine.state()));
        }
        // Exactly once: each chat intent that was accepted appears once.
        let mut texts: Vec<_> = engine.state().chat.iter().map(|m| m.text.clone()).collect();
        let before = texts.len();
        texts.sort();
        texts.dedup();
        prop_assert_eq!(texts.len(), before);
    }
}
