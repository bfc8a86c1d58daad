use whatssound_room::{Engine, Intent, Position, RoomSettings, TrackMeta};

use super::*;

fn meta(user: &str, name: &str, role: &str, joined_at: u64) -> PresenceMeta {
    let role = if role == "host" { PresenceRole::Host } else { PresenceRole::Listener };
    PresenceMeta { joined_at, ..PresenceMeta::new(&UserId::from(user), name, None, role) }
}

fn track(title: &str, source: TrackSource) -> TrackMeta {
    TrackMeta { title: title.into(), artist: Some("Band".into()), album: None, duration_ms: Some(180_000), source, hash: None }
}

/// A room with two tracks, one playing since host 1 s, and a chat line: built by the real engine.
fn room() -> (RoomModel, Engine) {
    let mut engine = Engine::new("HOST".into(), RoomSettings::default());
    let mut model = RoomModel::new("jam".into(), Role::Listener, "ANN".into(), "HOST".into(), Some(("ws://h:1".into(), "tok".into())));
    let acts = [
        (
            "HOST",
            Action::Enqueue { track: track("One", TrackSource::HostFile { file_name: "one.flac".into() }), position: Position::Append },
        ),
        (
            "ANN",
            Action::Enqueue { track: track("Two", TrackSource::Url { url: "https://x.org/two.ogg".into() }), position: Position::Append },
        ),
        ("HOST", Action::Play),
        ("ANN", Action::Chat { text: "hi".into() }),
        ("ANN", Action::Vote { track: "t2".into(), up: true }),
    ];
    for (i, (user, action)) in acts.into_iter().enumerate() {
        engine.handle(&user.into(), Intent { id: i.to_string().into(), name: user.to_lowercase(), action }, 1_000);
    }
    model.set_state(Arc::new(engine.state().clone()));
    (model, engine)
}

use whatssound_room::Action;

#[test]
fn a_view_shows_what_plays_where_it_is_and_the_queue_as_this_member_sees_it() {
    let (mut model, _) = room();
    model.presence(&[meta("HOST", "Hana", "host", 1), meta("ANN", "Ann", "listener", 2)], &[]);
    model.voted("t2".into(), true);
    // Host instant 4 s is wall-clock 1,000,004,000 ms.
    let view = model.view(4_000, 1_000_004_000);
    let now = view.now_playing.clone().unwrap();
    assert_eq!((now.track_id.as_str(), now.title.as_str(), now.playing), ("t1", "One", true));
    assert_eq!(now.position_ms, 3_000, "played since host 1 s");
    assert_eq!(now.at_ms, 1_000_004_000);
    assert_eq!(now.cover_url.as_deref(), Some("http://h:1/media/t1/cover?token=tok"));
    let titles: Vec<_> = view.queue.iter().map(|q| (q.title.as_str(), q.added_by.as_str(), q.mine, q.votes, q.my_vote)).collect();
    assert_eq!(titles, [("One", "Hana", false, 0, None), ("Two", "Ann", true, 1, Some(Vote::Up))]);
    assert_eq!(view.chat.len(), 1);
    assert_eq!((view.chat[0].from.as_str(), view.chat[0].text.as_str()), ("ann", "hi"));
    assert_eq!(view.chat[0].at_ms, 1_000_001_000, "host 1 s is 3 s before wall-clock now");
    let people: Vec<_> = view.people.iter().map(|p| (p.name.as_str(), p.is_host)).collect();
    assert_eq!(people, [("Hana", true), ("Ann", false)]);
    assert!(!view.closed);
    assert_eq!(view.role, Role::Listener);
}

#[test]
fn typing_and_audio_state_come_from_activity_and_typing_fades() {
    let (mut model, _) = room();
    model.presence(&[meta("ANN", "Ann", "listener", 2)], &[]);
    let typing = Activity { is_typing: true, audio: Some("buffering".into()), ..Activity::default() };
    model.activity(&"ANN".into(), &typing, 10_000);
    let ann = |m: &RoomModel, wall| m.view(0, wall).people[0].clone();
    assert!(ann(&model, 12_000).typing);
    assert_eq!(ann(&model, 12_000).audio, AudioState::Buffering);
    assert!(!ann(&model, 10_000 + TYPING_MS).typing, "a typing indicator not renewed fades");
    model.activity(&"ANN".into(), &Activity { audio: Some("playing".into()), ..Activity::default() }, 11_000);
    assert!(!ann(&model, 11_000).typing);
    assert_eq!(ann(&model, 11_000).audio, AudioState::Playing);
    // Strangers' activity and leaves.
    model.activity(&"ZED".into(), &typing, 11_000);
    model.presence(&[], &[meta("ANN", "Ann", "listener", 2)]);
    assert!(model.view(0, 11_000).people.is_empty());
}

#[test]
fn removed_tracks_forget_my_vote_and_a_snapshot_replaces_everything() {
    let (mut model, mut engine) = room();
    model.voted("t2".into(), true);
    engine.handle(&"HOST".into(), Intent { id: "rm".into(), name: "h".into(), action: Action::Remove { track: "t2".into() } }, 2_000);
    model.set_state(Arc::new(engine.state().clone()));
    assert_eq!(model.view(2_000, 2_000).queue.len(), 1);
    model.voted("t1".into(), true);
    model.voted("t1".into(), false);
    assert_eq!(model.view(2_000, 2_000).queue[0].my_vote, Some(Vote::Down), "a vote turned round, not taken back");
    let closed = RoomState { closed: true, ..RoomState::default() };
    model.set_state(Arc::new(closed));
    let view = model.view(0, 0);
    assert!(view.closed && view.queue.is_empty() && view.now_playing.is_none());
}
