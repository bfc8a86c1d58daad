use std::collections::BTreeSet;

use super::*;
use crate::queue::TrackSource;
use crate::replica::{Replica, ReplicaEvent};

fn host() -> UserId {
    "HOST".into()
}

fn ann() -> UserId {
    "ANN".into()
}

fn bob() -> UserId {
    "BOB".into()
}

fn intent(id: &str, action: Action) -> Intent {
    Intent { id: id.into(), name: "n".into(), action }
}

fn url_track(title: &str) -> TrackMeta {
    TrackMeta {
        title: title.into(),
        artist: None,
        album: None,
        duration_ms: Some(200_000),
        source: TrackSource::Url { url: format!("https://x.org/{title}.ogg") },
        hash: None,
    }
}

fn enqueue(title: &str) -> Action {
    Action::Enqueue { track: url_track(title), position: Position::Append }
}

fn refused(out: &[Output]) -> Option<&str> {
    match out {
        [Output::Refused { reason, .. }] => Some(reason),
        _ => None,
    }
}

fn titles(e: &Engine) -> Vec<&str> {
    e.state().queue.iter().map(|t| t.meta.title.as_str()).collect()
}

#[test]
fn only_the_hosts_own_finding_names_a_tracks_content_hash() {
    let mut e = Engine::new(host(), RoomSettings::default());
    let claimed = TrackMeta { hash: Some("ab".repeat(32)), ..url_track("a") };
    e.handle(&host(), intent("i1", Action::Enqueue { track: claimed, position: Position::Append }), 0);
    let track = e.state().queue.iter().next().unwrap().id.clone();
    assert_eq!(e.state().queue.get(&track).unwrap().meta.hash, None, "an enqueue's hash is a claim, and dropped");
    let patch = TrackPatch { hash: Some("cd".repeat(32)), ..TrackPatch::default() };
    e.describe(&track, patch, 1);
    assert_eq!(e.state().queue.get(&track).unwrap().meta.hash.as_deref(), Some("cd".repeat(32).as_str()));
}

#[test]
fn each_intent_id_applies_at_most_once() {
    let mut e = Engine::new(host(), RoomSettings::default());
    let first = e.handle(&ann(), intent("i1", enqueue("a")), 0);
    assert!(matches!(first[0], Output::Diff(_)));
    let seq = e.state().seq;
    let again = e.handle(&ann(), intent("i1", enqueue("a")), 5);
    assert_eq!(again, vec![Output::AlreadyApplied { user: ann(), intent: "i1".into(), seq }]);
    assert_eq!(titles(&e), ["a"]);
    // Another user's intent with the same id is a different intent.
    e.handle(&bob(), intent("i1", enqueue("b")), 6);
    assert_eq!(titles(&e), ["a", "b"]);
}

#[test]
fn listeners_are_refused_host_actions_and_host_paths() {
    let mut e = Engine::new(host(), RoomSettings::default());
    e.handle(&ann(), intent("1", enqueue("a")), 0);
    let t1: TrackId = "t1".into();
    for (action, needle) in [
        (Action::Play, "only the host may play"),
        (Action::Skip, "only the host may skip"),
        (Action::Move { track: t1.clone(), to: 0 }, "only the host may reorder"),
        (Action::Kick { user: bob() }, "only the host may kick"),
        (Action::Enqueue { track: url_track("p"), position: Position::Prepend }, "only the host may choose a position"),
        (
            Action::Enqueue {
                track: TrackMeta { source: TrackSource::HostFile { file_name: "/etc/passwd".into() }, ..url_track("x") },
                position: Position::Append,
            },
            "never opened",
        ),
        (
            Action::Enqueue {
                track: TrackMeta { source: TrackSource::Url { url: "file:///etc/passwd".into() }, ..url_track("x") },
                position: Position::Append,
            },
            "http(s)",
        ),
    ] {
        let before = e.state().clone();
        let out = e.handle(&bob(), intent(needle, action), 1);
        assert!(refused(&out).is_some_and(|r| r.contains(needle)), "{needle}: {out:?}");
        assert_eq!(e.state(), &before, "a refusal changes nothing");
    }
    assert!(refused(&e.handle(&bob(), intent("r", Action::Remove { track: t1.clone() }), 1)).unwrap().contains("only tracks you added"));
    assert!(matches!(e.handle(&ann(), intent("r", Action::Remove { track: t1 }), 1)[..], [Output::Diff(_), ..]));
}

#[test]
fn bad_arguments_get_clear_refusals_and_change_nothing() {
    let mut e = Engine::new(host(), RoomSettings { chat_max_chars: 10, ..RoomSettings::default() });
    let cases = [
        (Action::Remove { track: "t9".into() }, "not in the queue"),
        (Action::Vote { track: "t9".into(), up: true }, "not in the queue"),
        (Action::Chat { text: "   ".into() }, "cannot be empty"),
        (Action::Chat { text: "x".repeat(11) }, "at most 10 characters; this one has 11"),
        (Action::Play, "queue is empty"),
        (Action::Seek { ms: 5 }, "nothing is playing"),
        (Action::Skip, "nothing is playing"),
        (Action::Enqueue { track: url_track("a"), position: Position::At(3) }, "past the end"),
        (Action::Enqueue { track: TrackMeta { title: " ".into(), ..url_track("a") }, position: Position::Append }, "title"),
    ];
    for (i, (action, needle)) in cases.into_iter().enumerate() {
        let out = e.handle(&host(), intent(&i.to_string(), action), 0);
        assert!(refused(&out).is_some_and(|r| r.contains(needle)), "{needle}: {out:?}");
    }
    assert_eq!(e.state(), &RoomState::default());
    e.handle(&host(), intent("a", enqueue("a")), 0);
    assert!(refused(&e.handle(&host(), intent("s", Action::Seek { ms: 999_999 }), 0)).unwrap().contains("past the end of the track"));
    assert!(
        refused(&e.handle(&host(), intent("m", Action::Move { track: "t1".into(), to: 1 }), 0))
            .unwrap()
            .contains("past the end of the queue")
    );
}

#[test]
fn playback_play_pause_seek_and_skip() {
    let mut e = Engine::new(host(), RoomSettings::default());
    e.handle(&host(), intent("1", enqueue("a")), 0);
    e.handle(&host(), intent("2", enqueue("b")), 0);
    assert_eq!(e.state().playback.track, Some("t1".into()), "the first track becomes current");
    assert!(!e.state().playback.playing);
    e.handle(&host(), intent("3", Action::Play), 1_000);
    e.handle(&host(), intent("4", Action::Pause), 4_000);
    assert_eq!(e.state().playback.position_ms, 3_000);
    assert!(matches!(e.handle(&host(), intent("5", Action::Pause), 5_000)[..], [Output::AlreadyApplied { .. }]), "pause twice is a no-op");
    e.handle(&host(), intent("6", Action::Seek { ms: 60_000 }), 6_000);
    e.handle(&host(), intent("7", Action::Play), 7_000);
    assert_eq!(e.state().playback.position_at(8_000), 61_000);
    e.handle(&host(), intent("8", Action::Skip), 9_000);
    assert_eq!(titles(&e), ["b"]);
    assert_eq!(e.state().playback, Playback { track: Some("t2".into()), playing: true, position_ms: 0, at_ms: 9_000 });
    e.track_ended(10_000);
    assert_eq!(e.state().playback, Playback { track: None, playing: false, position_ms: 0, at_ms: 10_000 });
    assert!(e.state().queue.is_empty());
}

#[test]
fn an_unplayable_track_is_marked_and_moved_past_and_never_chosen_next() {
    let mut e = Engine::new(host(), RoomSettings::default());
    for (i, t) in ["a", "b", "c"].iter().enumerate() {
        e.handle(&host(), intent(&i.to_string(), enqueue(t)), 0);
    }
    e.handle(&host(), intent("p", Action::Play), 0);
    // b turns out unplayable while a plays: marked, nothing else moves.
    let out = e.describe(&"t2".into(), TrackPatch { unplayable: Some("not audio".into()), ..TrackPatch::default() }, 1_000);
    assert_eq!(out.len(), 1);
    assert_eq!(e.state().queue.get(&"t2".into()).unwrap().unplayable.as_deref(), Some("not audio"));
    assert_eq!(e.state().playback.track, Some("t1".into()));
    // When a ends, b is passed over for c.
    e.track_ended(2_000);
    assert_eq!(e.state().playback.track, Some("t3".into()));
    // The current track found unplayable: the room moves on at once (here, to nothing playable).
    let out = e.describe(&"t3".into(), TrackPatch { unplayable: Some("404".into()), ..TrackPatch::default() }, 3_000);
    assert!(out.len() >= 2, "{out:?}");
    assert_eq!(e.state().playback.track, None);
    // Learnt tags just update the queue; unknown tracks and empty patches change nothing.
    let len = TrackPatch { duration_ms: Some(5), ..TrackPatch::default() };
    assert_eq!(e.describe(&"t2".into(), len.clone(), 4_000).len(), 1);
    assert!(e.describe(&"nope".into(), len, 4_000).is_empty());
    assert!(e.describe(&"t2".into(), TrackPatch::default(), 4_000).is_empty());
    // Paused, an unplayable current track is only marked; play then starts at the next playable one.
    let mut e = Engine::new(host(), RoomSettings::default());
    for (i, t) in ["a", "b"].iter().enumerate() {
        e.handle(&host(), intent(&i.to_string(), enqueue(t)), 0);
    }
    e.describe(&"t1".into(), TrackPatch { unplayable: Some("404".into()), ..TrackPatch::default() }, 1_000);
    assert_eq!(e.state().playback.track, Some("t1".into()));
    e.handle(&host(), intent("play", Action::Play), 2_000);
    assert_eq!(e.state().playback, Playback { track: Some("t2".into()), playing: true, position_ms: 0, at_ms: 2_000 });
    e.describe(&"t2".into(), TrackPatch { unplayable: Some("404".into()), ..TrackPatch::default() }, 3_000);
    e.handle(&host(), intent("pause", Action::Pause), 3_000);
    assert!(e.state().playback.track.is_none());
}

#[test]
fn more_than_half_of_listeners_voting_down_skips_the_current_track() {
    let mut e = Engine::new(host(), RoomSettings::default());
    e.set_present([host(), ann(), bob(), "CAT".into()].into_iter().collect::<BTreeSet<_>>());
    e.handle(&host(), intent("1", enqueue("a")), 0);
    e.handle(&host(), intent("2", enqueue("b")), 0);
    let t1: TrackId = "t1".into();
    e.handle(&ann(), intent("v", Action::Vote { track: t1.clone(), up: false }), 1);
    assert_eq!(e.state().tallies[&t1], crate::state::Tally { up: 0, down: 1 });
    assert!(matches!(
        e.handle(&ann(), intent("v2", Action::Vote { track: t1.clone(), up: false }), 1)[..],
        [Output::AlreadyApplied { .. }]
    ));
    assert_eq!(titles(&e), ["a", "b"], "1 of 3 listeners is not more than half");
    e.handle(&bob(), intent("v", Action::Vote { track: t1.clone(), up: false }), 2);
    assert_eq!(titles(&e), ["b"], "2 of 3 listeners is more than half: skipped");
    assert_eq!(e.state().playback.track, Some("t2".into()));
    assert!(!e.state().tallies.contains_key(&t1));
}

#[test]
fn chat_reactions_kick_and_close() {
    let mut e = Engine::new(host(), RoomSettings::default());
    let out = e.handle(&ann(), Intent { id: "c".into(), name: "Ann".into(), action: Action::Chat { text: " hi there ".into() } }, 42);
    let Output::Diff(Diff { change: Change::Chat { message }, intent: confirms, .. }) = &out[0] else { panic!() };
    assert_eq!(
        (message.text.as_str(), message.name.as_str(), message.at_ms, confirms.as_ref().unwrap().as_str()),
        ("hi there", "Ann", 42, "c")
    );

    for i in 0..5 {
        assert!(matches!(
            e.handle(&ann(), intent(&format!("r{i}"), Action::React { emoji: "🔥".into() }), 1_000)[..],
            [Output::Reaction { .. }]
        ));
    }
    assert!(
        refused(&e.handle(&ann(), intent("r5", Action::React { emoji: "🔥".into() }), 2_000)).unwrap().starts_with("too many reactions")
    );
    assert!(
        matches!(e.handle(&ann(), intent("r6", Action::React { emoji: "🔥".into() }), 11_000)[..], [Output::Reaction { .. }]),
        "the window slides"
    );
    let seq = e.state().seq;
    assert_eq!(e.state().seq, seq, "reactions are not stored");

    e.handle(&host(), intent("k", Action::Kick { user: ann() }), 0);
    assert!(refused(&e.handle(&ann(), intent("c2", Action::Chat { text: "x".into() }), 0)).unwrap().contains("removed"));
    assert!(refused(&e.handle(&host(), intent("k2", Action::Kick { user: host() }), 0)).is_some());
    assert!(matches!(e.close()[..], [Output::Diff(Diff { change: Change::Closed, .. })]));
    assert!(e.close().is_empty());
    assert!(refused(&e.handle(&bob(), intent("late", Action::Chat { text: "x".into() }), 0)).unwrap().contains("closed"));
    assert!(matches!(e.reopen()[..], [Output::Diff(Diff { change: Change::Reopened, .. })]));
    assert!(e.reopen().is_empty(), "an open room stays as it is");
    assert!(matches!(e.handle(&bob(), intent("again", Action::Chat { text: "back".into() }), 0)[..], [Output::Diff(_)]));
}

#[test]
fn the_engine_survives_a_round_trip_through_json() {
    let mut e = Engine::new(host(), RoomSettings::default());
    e.handle(&ann(), intent("1", enqueue("a")), 0);
    let mut restored: Engine = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
    assert_eq!(restored.state(), e.state());
    let key = Engine::intent_key(&ann(), &"1".into());
    restored.restore_applied([(key.clone(), e.applied(&key).unwrap())]);
    assert!(
        matches!(restored.handle(&ann(), intent("1", enqueue("a")), 0)[..], [Output::AlreadyApplied { .. }]),
        "idempotency survives a restart"
    );
}

#[test]
fn a_replica_fed_every_diff_matches_the_engine() {
    let mut e = Engine::new(host(), RoomSettings::default());
    let mut r = Replica::default();
    r.receive_snapshot(e.state().clone());
    let actions = [
        enqueue("a"),
        enqueue("b"),
        Action::Play,
        Action::Move { track: "t2".into(), to: 0 },
        Action::Skip,
        Action::Chat { text: "yo".into() },
    ];
    for (i, a) in actions.into_iter().enumerate() {
        for out in e.handle(&host(), intent(&i.to_string(), a), i as u64 * 1000) {
            if let Output::Diff(d) = out {
                assert_eq!(r.receive_diff(&d), ReplicaEvent::Applied);
            }
        }
    }
    assert_eq!(r.state(), Some(e.state()));
}

#[test]
fn a_cohost_key_has_the_hosts_rights() {
    let mut e = Engine::new(host(), RoomSettings::default());
    e.handle(&host(), intent("1", enqueue("a")), 0);
    assert!(refused(&e.handle(&bob(), intent("p", Action::Play), 0)).is_some());
    e.add_cohost(bob());
    assert!(matches!(e.handle(&bob(), intent("p2", Action::Play), 0)[..], [Output::Diff(_)]));
}
