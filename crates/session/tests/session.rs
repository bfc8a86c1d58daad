//! Sessions as the desktop app runs them: one hosts a room on the embedded hub, another joins by
//! invite. One behaviour per test: what each shows comes from the room, actions are answered,
//! uploads land in the queue, a new invite retires the old, and when the host leaves the listener
//! is told the room ended.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use whatssound_audio::{MonotonicClock, Volume};
use whatssound_member::player::OutputKind;
use whatssound_room::Action;
use whatssound_session::session::{Session, SessionConfig, SessionError, SessionEvent, Venue};
use whatssound_session::view::RoomView;

mod common;
use common::temp;

fn config(dir: PathBuf, name: &str) -> SessionConfig {
    SessionConfig {
        data_dir: dir,
        name: name.into(),
        avatar: None,
        output: None,
        volume: Volume::default(),
        offset_ms: 0,
        clock: Arc::new(MonotonicClock::new()),
    }
}

fn tone(dir: &std::path::Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, whatssound_audio::wav::sine(44_100, 2, 3.0, 440.0, &Default::default())).unwrap();
    path
}

/// The first view that satisfies `want`, within 10 s.
async fn until_view(events: &mut UnboundedReceiver<SessionEvent>, want: impl Fn(&RoomView) -> bool) -> RoomView {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut last = None;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(SessionEvent::Room(v))) if want(&v) => return *v,
            Ok(Some(SessionEvent::Room(v))) => last = Some(v),
            Ok(Some(_)) => {}
            other => panic!("no matching view ({other:?}); the last was {last:#?}"),
        }
    }
}

/// A room hosted as the desktop app hosts one, with Ann joined: each has seen the other.
struct Room {
    base: PathBuf,
    host: Session,
    host_events: UnboundedReceiver<SessionEvent>,
    ann: Session,
    ann_events: UnboundedReceiver<SessionEvent>,
    invite: String,
    /// The host's first view with Ann in it.
    host_saw: RoomView,
}

async fn hosted_and_joined(name: &str) -> Room {
    let base = temp(name);
    let song = tone(&base, "Opening.wav");
    let (host, mut host_events) = Session::host(config(base.join("host"), "Hana"), "Friday Jam", &[song], Venue::default()).await.unwrap();
    let view = until_view(&mut host_events, |v| v.invite.is_some() && !v.queue.is_empty()).await;
    let invite = view.invite.clone().unwrap();
    let (ann, mut ann_events) = Session::join(config(base.join("ann"), "Ann"), &invite).await.unwrap();
    let host_saw = until_view(&mut host_events, |v| v.people.iter().any(|p| p.name == "Ann")).await;
    until_view(&mut ann_events, |v| v.people.iter().any(|p| p.name == "Hana") && !v.queue.is_empty()).await;
    Room { base, host, host_events, ann, ann_events, invite, host_saw }
}

impl Room {
    async fn leave(self) {
        self.ann.leave().await.unwrap();
        self.host.leave().await.unwrap();
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosted_room_is_named_from_what_was_typed_and_plays_its_files() {
    let base = temp("named");
    let song = tone(&base, "Opening.wav");
    let (host, mut events) = Session::host(config(base.join("host"), "Hana"), "Friday Jam", &[song], Venue::default()).await.unwrap();
    let view = until_view(&mut events, |v| v.invite.is_some() && !v.queue.is_empty()).await;
    assert_eq!(view.name, "Friday-Jam");
    assert_eq!(view.now_playing.as_ref().unwrap().title, "Opening");
    host.leave().await.unwrap();
    let _ = std::fs::remove_dir_all(&base);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_and_a_listener_see_each_other_with_the_host_marked() {
    // Each waited to see the other; the host's view marks the host.
    let room = hosted_and_joined("people").await;
    let people = &room.host_saw.people;
    assert!(people.iter().any(|p| p.name == "Hana" && p.is_host), "{people:?}");
    assert!(people.iter().any(|p| p.name == "Ann" && !p.is_host), "{people:?}");
    room.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listeners_chat_reaches_the_host_and_a_host_only_action_is_refused_at_once() {
    let mut room = hosted_and_joined("chat").await;
    room.ann.act(Action::Chat { text: "hello from Ann".into() }).await.unwrap();
    until_view(&mut room.host_events, |v| v.chat.iter().any(|c| c.text == "hello from Ann" && c.from == "Ann")).await;
    assert!(matches!(room.ann.act(Action::Skip).await, Err(SessionError::HostOnly(_))));
    room.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listeners_own_file_is_uploaded_and_queued_and_its_vote_is_remembered_as_mine() {
    let mut room = hosted_and_joined("upload").await;
    room.ann.add_files(&[tone(&room.base, "Mine.wav")]).await.unwrap();
    let v = until_view(&mut room.host_events, |v| v.queue.iter().any(|q| q.title == "Mine")).await;
    let mine = v.queue.iter().find(|q| q.title == "Mine").unwrap().id.clone();
    room.ann.act(Action::Vote { track: mine.as_str().into(), up: true }).await.unwrap();
    until_view(&mut room.ann_events, |v| {
        v.queue.iter().any(|q| q.id == mine && q.my_vote == Some(whatssound_session::view::Vote::Up) && q.mine && q.votes == 1)
    })
    .await;
    room.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_audio_is_refused_with_its_name_and_the_reason() {
    let room = hosted_and_joined("notaudio").await;
    let notes = room.base.join("notes.mp3");
    std::fs::write(&notes, "not a song").unwrap();
    let err = room.ann.add_files(&[notes]).await.unwrap_err().to_string();
    assert!(err.contains("notes.mp3: not a supported audio file"), "{err}");
    room.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_acts_with_the_hosts_rights_and_a_refusal_says_why() {
    let mut room = hosted_and_joined("act").await;
    room.host.act(Action::Pause).await.unwrap();
    until_view(&mut room.ann_events, |v| v.now_playing.as_ref().is_some_and(|n| !n.playing)).await;
    let err = room.host.act(Action::Seek { ms: 999_999 }).await.unwrap_err().to_string();
    assert!(err.contains("past the end"), "{err}");
    room.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_invite_retires_the_old_one_and_a_non_invite_says_so() {
    let mut room = hosted_and_joined("invite").await;
    let fresh = room.host.new_invite().unwrap();
    assert_ne!(fresh, room.invite);
    let old = Session::join(config(room.base.join("bob"), "Bob"), &room.invite).await;
    assert!(old.is_err(), "the old invite still works");
    let (bob, _) = Session::join(config(room.base.join("bob2"), "Bob"), &fresh).await.unwrap();
    bob.leave().await.unwrap();
    let err = Session::join(config(room.base.join("x"), "X"), "not an invite").await.unwrap_err().to_string();
    assert!(err.contains("not an invite"), "{err}");
    room.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_host_leaves_the_listener_is_told_the_room_ended() {
    let Room { base, host, ann, mut ann_events, .. } = hosted_and_joined("ended").await;
    host.leave().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, ann_events.recv()).await {
            Ok(Some(SessionEvent::Ended { reason })) => {
                assert!(reason.contains("ended"), "{reason}");
                break;
            }
            Ok(Some(_)) => {}
            other => panic!("no end: {other:?}"),
        }
    }
    ann.leave().await.unwrap();
    let _ = std::fs::remove_dir_all(&base);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_avatars_people_chose_are_shown_to_everyone_and_an_oversized_one_is_left_out() {
    let base = temp("avatars");
    let hana_avatar = "https://example.org/hana.png";
    let ann_avatar = "data:image/png;base64,iVBORw0KGgo=";
    let hana = SessionConfig { avatar: Some(hana_avatar.into()), ..config(base.join("host"), "Hana") };
    let (host, mut host_events) = Session::host(hana, "Faces", &[], Venue::default()).await.unwrap();
    let invite = until_view(&mut host_events, |v| v.invite.is_some()).await.invite.unwrap();
    let ann = SessionConfig { avatar: Some(ann_avatar.into()), ..config(base.join("ann"), "Ann") };
    let (ann, mut ann_events) = Session::join(ann, &invite).await.unwrap();
    let huge = format!("data:image/png;base64,{}", "A".repeat(whatssound_core::MAX_AVATAR_BYTES));
    let bob = SessionConfig { avatar: Some(huge), ..config(base.join("bob"), "Bob") };
    let (bob, _bob_events) = Session::join(bob, &invite).await.unwrap();
    let avatar_of = |v: &RoomView, name: &str| v.people.iter().find(|p| p.name == name).map(|p| p.avatar.clone());
    let seen = until_view(&mut ann_events, |v| avatar_of(v, "Hana").is_some() && avatar_of(v, "Bob").is_some()).await;
    assert_eq!(avatar_of(&seen, "Hana"), Some(Some(hana_avatar.to_owned())));
    assert_eq!(avatar_of(&seen, "Bob"), Some(None), "too big to send to everyone: left out");
    until_view(&mut host_events, |v| avatar_of(v, "Ann") == Some(Some(ann_avatar.to_owned()))).await;
    for s in [bob, ann, host] {
        s.leave().await.unwrap();
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_track_the_hosting_app_cannot_play_is_moved_past_for_everyone() {
    let base = temp("unplayable");
    // 30 s long: within the test's 10 s the room can only move past it by finding it unplayable.
    let moved = base.join("Moved.wav");
    std::fs::write(&moved, whatssound_audio::wav::sine(44_100, 2, 30.0, 440.0, &Default::default())).unwrap();
    // Long too: a slow machine must not see the room past it before it looks.
    let next = base.join("Next.wav");
    std::fs::write(&next, whatssound_audio::wav::sine(44_100, 2, 30.0, 440.0, &Default::default())).unwrap();
    let mut hana = config(base.join("host"), "Hana");
    hana.output = Some(OutputKind::Null);
    let (host, mut events) = Session::host(hana, "Lost", &[], Venue::default()).await.unwrap();
    host.add_files(&[moved.clone(), next]).await.unwrap();
    until_view(&mut events, |v| v.queue.len() == 2).await;
    // The file goes away after it was queued (moved, or its disk unplugged). The host's own
    // player finds it unplayable; the room marks it and moves on (the mark and the move arrive
    // as one change, so the view goes straight to the next track).
    std::fs::remove_file(&moved).unwrap();
    host.act(Action::Play).await.unwrap();
    until_view(&mut events, |v| v.now_playing.as_ref().is_some_and(|n| n.title == "Next")).await;
    host.leave().await.unwrap();
    let _ = std::fs::remove_dir_all(&base);
}
