//! `whatssound-cli send`: one action, confirmed by the room, as one JSON line.

use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use whatssound_member::{ListenerConfig, ListenerRoom, RoomEvent, Route};
use whatssound_protocol::Invite;
use whatssound_room::{Action, Change, Position, QueueDiff, TrackMeta, TrackSource};

use crate::args::SendArgs;
use crate::exit::Coded;
use crate::{output, room_store};

pub async fn run(args: SendArgs) -> anyhow::Result<()> {
    let request = parse_action(&args.action)?;
    let invite: Invite = args.invite.parse().context("bad invite")?;
    let route = Route::open(&invite).await.context("could not join the room")?;
    // A file of one's own goes to the host first; the room is then offered the upload by id.
    let action = match request {
        Request::Act(action) => action,
        Request::Upload(path) => {
            whatssound_host::uploads::upload(route.ws(), &invite.token, &path).await.context("the upload failed")?.enqueue()
        }
    };
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err(Coded::Usage("--timeout must be a positive number of seconds".into()).into());
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    let data_dir = match args.data_dir {
        Some(d) => d,
        None => room_store::listener_dir("send")?,
    };
    let verb = args.action[0].clone();
    let clock = std::sync::Arc::new(whatssound_clock::MonotonicClock::new());
    let name = room_store::saved_name(&data_dir).unwrap_or_else(|| "send".into());
    let config =
        ListenerConfig { invite, route: route.clone(), name, avatar: None, data_dir, track_presence: false, lan_clock: false, clock };
    let work = async {
        let (room, mut events) = ListenerRoom::join(config).await.context("could not join the room")?;
        // Wait for the first snapshot: then every channel, our private one included, is joined.
        loop {
            match events.recv().await {
                Some(RoomEvent::Joined { .. }) => break,
                Some(RoomEvent::RoomClosed) => anyhow::bail!("the room is closed"),
                Some(_) => {}
                None => anyhow::bail!("the connection ended before the room answered"),
            }
        }
        let id = room.send(action).await?;
        loop {
            match events.recv().await {
                Some(RoomEvent::Confirmed { intent, seq, diff }) if intent == id => {
                    let mut result = json!({"action": verb, "intent": intent, "seq": seq});
                    if let Some(Change::Queue { diff: QueueDiff::Insert { track, .. } }) = diff.map(|d| d.change) {
                        result["track"] = json!(track.id);
                    }
                    output::emit("ok", result);
                    room.close();
                    return Ok(());
                }
                Some(RoomEvent::Refused { intent, reason }) if intent == id => {
                    output::emit("refused", json!({"action": verb, "intent": intent, "reason": reason}));
                    room.close();
                    anyhow::bail!("refused: {reason}");
                }
                Some(RoomEvent::RoomClosed) => anyhow::bail!("the room closed before confirming"),
                Some(_) => {}
                None => anyhow::bail!("the connection ended before the room answered"),
            }
        }
    };
    let result = match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(Coded::TimedOut(format!("timed out after {} s waiting for the room to confirm", args.timeout)).into()),
    };
    route.close().await;
    result
}

/// What `send` was asked to do.
#[derive(Debug, PartialEq)]
enum Request {
    Act(Action),
    /// Upload this file to the host, then enqueue it.
    Upload(std::path::PathBuf),
}

/// Parses the words after the invite; a wrong shape is bad usage (exit 2) with the expected form.
fn parse_action(words: &[String]) -> anyhow::Result<Request> {
    let usage = |form: &str| -> anyhow::Error { Coded::Usage(format!("expected `{form}`; got `{}`", words.join(" "))).into() };
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    Ok(Request::Act(match w.as_slice() {
        ["chat", text @ ..] if !text.is_empty() => Action::Chat { text: text.join(" ") },
        ["enqueue", path] if !(path.starts_with("http://") || path.starts_with("https://")) => {
            let path = std::path::PathBuf::from(path);
            if !path.is_file() {
                return Err(Coded::Usage(format!("enqueue takes an http(s) URL or an audio file; {} is neither", path.display())).into());
            }
            return Ok(Request::Upload(path));
        }
        ["enqueue", url] => {
            let title = url.rsplit('/').find(|s| !s.is_empty()).unwrap_or(url).to_owned();
            Action::Enqueue {
                track: TrackMeta {
                    title,
                    artist: None,
                    album: None,
                    duration_ms: None,
                    source: TrackSource::Url { url: (*url).to_owned() },
                    hash: None,
                },
                position: Position::Append,
            }
        }
        ["vote", track, dir @ ("up" | "down")] => Action::Vote { track: (*track).into(), up: *dir == "up" },
        ["vote", ..] => return Err(usage("vote TRACK_ID up|down")),
        ["react", emoji] => Action::React { emoji: (*emoji).to_owned() },
        ["play"] => Action::Play,
        ["pause"] => Action::Pause,
        ["skip"] => Action::Skip,
        ["seek", ms] => Action::Seek { ms: ms.parse().map_err(|_| usage("seek MS (a whole number of milliseconds)"))? },
        ["remove", track] => Action::Remove { track: (*track).into() },
        ["move", track, index] => {
            Action::Move { track: (*track).into(), to: index.parse().map_err(|_| usage("move TRACK_ID INDEX (0-based)"))? }
        }
        _ => {
            return Err(usage(
                "chat TEXT | enqueue URL|FILE | vote TRACK_ID up|down | react EMOJI | play | pause | seek MS | skip | remove TRACK_ID | move TRACK_ID INDEX",
            ));
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn actions_parse_and_bad_ones_name_the_expected_form() {
        assert_eq!(parse_action(&words("chat hello there")).unwrap(), Request::Act(Action::Chat { text: "hello there".into() }));
        assert_eq!(parse_action(&words("vote t3 down")).unwrap(), Request::Act(Action::Vote { track: "t3".into(), up: false }));
        assert_eq!(parse_action(&words("move t1 0")).unwrap(), Request::Act(Action::Move { track: "t1".into(), to: 0 }));
        assert!(matches!(parse_action(&words("enqueue https://x.org/a.ogg")).unwrap(), Request::Act(Action::Enqueue { .. })));
        let me = std::env::current_exe().unwrap();
        assert_eq!(parse_action(&["enqueue".into(), me.display().to_string()]).unwrap(), Request::Upload(me));
        for (bad, needle) in [
            ("vote t1 sideways", "vote TRACK_ID up|down"),
            ("seek soon", "seek MS"),
            ("dance", "chat TEXT"),
            ("enqueue /no/such/song.mp3", "http(s) URL or an audio file"),
        ] {
            let err = parse_action(&words(bad)).unwrap_err();
            assert!(matches!(err.downcast_ref::<Coded>(), Some(Coded::Usage(_))), "{bad}");
            assert!(err.to_string().contains(needle), "{bad}: {err}");
        }
    }
}
