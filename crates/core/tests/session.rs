//! Sessions as the desktop app runs them: one hosts a room on the embedded hub, another joins by
//! invite; what each shows comes from the room, actions are answered, uploads land in the queue,
//! a new invite retires the old, and when the host leaves the listener is told the room ended.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use whatssound_audio::{MonotonicClock, Volume};
use whatssound_core::player::OutputKind;
use whatssound_core::session::{Session, SessionConfig, SessionError, SessionEvent, Venue};
use whatssound_core::view::RoomView;
use whatssound_room::Action;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("whatssound-session-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosted_room_and_a_joined_one_show_each_other_and_answer_actions() {
    let base = temp("both");
    let song = tone(&base, "Opening.wav");
    let (mut host, mut host_events) =
        Session::host(config(base.join("host"), "Hana"), "Friday Jam", &[song], Venue::default()).await.unwrap();
    let view = until_view(&mut host_events, |v| v.invite.is_some() && !v.queue.is_empty()).await;
    assert_eq!(view.name, "Friday-Jam");
    assert_eq!(view.now_playing.as_ref().unwrap().title, "Opening");
    let invite = view.invite.clone().unwrap();

    let (ann, mut ann_events) = Session::join(config(base.join("ann"), "Ann"), &invite).await.unwrap();
    // Each sees the other.
    let hv = until_view(&mut host_events, |v| v.people.iter().any(|p| p.name == "Ann")).await;
    assert!(hv.people.iter().any(|p| p.name == "Hana" && p.is_host), "{:?}", hv.people);
    until_view(&mut ann_events, |v| v.people.iter().any(|p| p.name == "Hana") && !v.queue.is_empty()).await;

    // A listener's chat reaches the host; a listener's host-only action is refused at once.
    ann.act(Action::Chat { text: "hello from Ann".into() }).await.unwrap();
    until_view(&mut host_events, |v| v.chat.iter().any(|c| c.text == "hello from Ann" && c.from == "Ann")).await;
    assert!(matches!(ann.act(Action::Skip).await, Err(SessionError::HostOnly(_))));
    // A listener's own file is uploaded and queued; votes are remembered as mine.
    ann.add_files(&[tone(&base, "Mine.wav")]).await.unwrap();
    let v = until_view(&mut host_events, |v| v.queue.iter().any(|q| q.title == "Mine")).await;
    let mine = v.queue.iter().find(|q| q.title == "Mine").unwrap().id.clone();
    ann.act(Action::Vote { track: mine.as_str().into(), up: true }).await.unwrap();
    until_view(&mut ann_events, |v| {
        v.queue.iter().any(|q| q.id == mine && q.my_vote == Some(whatssound_core::view::Vote::Up) && q.mine && q.votes == 1)
    })
    .await;
    // A file that is not audio: the reason comes back, the room goes on.
    let notes = base.join("notes.mp3");
    std::fs::write(&notes, "not a song").unwrap();
    let err = ann.add_files(&[notes]).await.unwrap_err().to_string();
    assert!(err.contains("notes.mp3: not a supported audio file"), "{err}");
    // The host acts with the host's rights; a refusal says why.
    host.act(Action::Pause).await.unwrap();
    until_view(&mut ann_events, |v| v.now_playing.as_ref().is_some_and(|n| !n.playing)).await;
    let err = host.act(Action::Seek { ms: 999_999 }).await.unwrap_err().to_string();
    assert!(err.contains("past the end"), "{err}");

    // A new invite: the old one no longer lets anyone in.
    let fresh = host.new_invite().unwrap();
    assert_ne!(fresh, invite);
    let old = Session::join(config(base.join("bob"), "Bob"), &invite).await;
    assert!(old.is_err(), "the old invite still works");
    let (bob, _) = Session::join(config(base.join("bob2"), "Bob"), &fresh).await.unwrap();
    bob.leave().await.unwrap();
    assert!(Session::join(config(base.join("x"), "X"), "not an invite").await.unwrap_err().to_string().contains("not an invite"));

    // The host leaves: the listener is told the room ended.
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
async fn a_track_the_hosting_app_cannot_play_is_moved_past_for_everyone() {
    let base = temp("unplayable");
    // 30 s long: within the test's 10 s the room can only move past it by finding it unplayable.
    let moved = base.join("Moved.wav");
    std::fs::write(&moved, whatssound_audio::wav::sine(44_100, 2, 30.0, 440.0, &Default::default())).unwrap();
    let next = tone(&base, "Next.wav");
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
