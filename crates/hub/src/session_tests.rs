use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use whatssound_protocol::{Frame, Message, PayloadEncoding, UserBroadcast, UserBroadcastPush};

use super::*;
use crate::access::RoomAccess;

fn msg(join_ref: &str, r: &str, topic: &str, event: &str, payload: Value) -> Frame {
    Frame::Message(Message::new(topic, event, payload).with_refs(Some(join_ref.into()), Some(r.into())))
}

fn session() -> Session {
    Session::new(7, None, &Limits::default(), Instant::now())
}

fn sent(effects: &[Effect]) -> Vec<(String, Value)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(m) => Some((m.event.clone(), m.payload.as_json().cloned().unwrap_or_default())),
            _ => None,
        })
        .collect()
}

fn error_reason(effects: &[Effect]) -> String {
    sent(effects)
        .into_iter()
        .find(|(e, p)| e == "phx_reply" && p["status"] == "error")
        .and_then(|(_, p)| p["response"]["reason"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn room() -> Access {
    Access::Room(RoomAccess { room: "r".into(), host_token: "H".into(), listener_token: "L".into() })
}

#[test]
fn heartbeat_gets_an_ok_reply_with_its_ref() {
    let mut s = session();
    let hb = Frame::Message(Message::new("phoenix", "heartbeat", json!({})).with_refs(None, Some("26".into())));
    let effects = s.handle(hb, &Access::Open, Instant::now());
    let Effect::Send(reply) = &effects[0] else { panic!() };
    assert_eq!((reply.join_ref.as_deref(), reply.msg_ref.as_deref(), reply.event.as_str()), (None, Some("26"), "phx_reply"));
    assert_eq!(reply.payload.as_json(), Some(&json!({"status":"ok","response":{}})));
}

#[test]
fn join_subscribes_replies_then_sends_presence_state() {
    let mut s = session();
    let effects = s.handle(msg("1", "1", "realtime:a", "phx_join", json!({})), &Access::Open, Instant::now());
    assert!(
        matches!(&effects[0], Effect::Subscribe { topic, config, .. } if topic == "realtime:a" && config.presence_enabled && !config.broadcast_self)
    );
    assert_eq!(sent(&effects)[0], ("phx_reply".into(), json!({"status":"ok","response":{}})));
    assert!(matches!(&effects[2], Effect::SendPresenceState { .. }));
}

#[test]
fn realtime_js_config_is_honoured_and_an_empty_key_gets_one_made() {
    let mut s = session();
    let cfg = json!({"config":{"broadcast":{"self":true,"ack":true},"presence":{"key":"","enabled":false},"private":true}});
    let effects = s.handle(msg("1", "1", "realtime:a", "phx_join", cfg), &Access::Open, Instant::now());
    let Effect::Subscribe { config, .. } = &effects[0] else { panic!() };
    assert!(config.broadcast_self && config.broadcast_ack && config.private && !config.presence_enabled);
    assert!(config.presence_key.starts_with("anon-"));
    assert_eq!(effects.len(), 2, "no presence_state when presence is off");
}

#[test]
fn unknown_topics_and_unjoined_pushes_are_unmatched() {
    let mut s = session();
    let now = Instant::now();
    assert_eq!(error_reason(&s.handle(msg("1", "1", "rooms:lobby", "phx_join", json!({})), &Access::Open, now)), "unmatched topic");
    assert_eq!(error_reason(&s.handle(msg("1", "1", "realtime:", "phx_join", json!({})), &Access::Open, now)), "unmatched topic");
    let push = msg("1", "2", "realtime:b", "broadcast", json!({"type":"broadcast","event":"x","payload":{}}));
    assert_eq!(error_reason(&s.handle(push, &Access::Open, now)), "unmatched topic");
}

#[test]
fn a_second_join_closes_the_first() {
    let mut s = session();
    let now = Instant::now();
    s.handle(msg("1", "1", "realtime:a", "phx_join", json!({})), &Access::Open, now);
    let effects = s.handle(msg("5", "5", "realtime:a", "phx_join", json!({})), &Access::Open, now);
    let Effect::Send(close) = &effects[0] else { panic!() };
    assert_eq!((close.event.as_str(), close.join_ref.as_deref()), ("phx_close", Some("1")));
    assert!(matches!(&effects[1], Effect::Unsubscribe { .. }));
    assert!(matches!(&effects[2], Effect::Subscribe { join_ref: Some(j), .. } if j == "5"));
}

#[test]
fn at_most_max_channels() {
    let mut s = Session::new(1, None, &Limits { max_channels: 2, ..Limits::default() }, Instant::now());
    let now = Instant::now();
    for t in ["realtime:a", "realtime:b"] {
        assert_eq!(error_reason(&s.handle(msg("1", "1", t, "phx_join", json!({})), &Access::Open, now)), "");
    }
    assert_eq!(error_reason(&s.handle(msg("3", "3", "realtime:c", "phx_join", json!({})), &Access::Open, now)), "too many channels joined");
    // Leaving frees a slot.
    s.handle(msg("1", "9", "realtime:a", "phx_leave", json!({})), &Access::Open, now);
    assert_eq!(error_reason(&s.handle(msg("4", "4", "realtime:c", "phx_join", json!({})), &Access::Open, now)), "");
}

#[test]
fn join_token_takes_precedence_over_the_socket_token() {
    let now = Instant::now();
    let mut s = Session::new(1, Some("wrong".into()), &Limits::default(), now);
    let bad = s.handle(msg("1", "1", "realtime:room:r", "phx_join", json!({})), &room(), now);
    assert!(error_reason(&bad).starts_with("Unauthorized: "));
    let good = s.handle(msg("2", "2", "realtime:room:r", "phx_join", json!({"access_token":"L"})), &room(), now);
    assert_eq!(error_reason(&good), "");
    let mut s = Session::new(1, Some("L".into()), &Limits::default(), now);
    let bad = s.handle(msg("1", "1", "realtime:room:r", "phx_join", json!({"access_token":"nope"})), &room(), now);
    assert!(error_reason(&bad).starts_with("Unauthorized: "), "a wrong join token is not rescued by the socket's");
}

#[test]
fn broadcast_honours_self_and_ack() {
    let mut s = session();
    let now = Instant::now();
    s.handle(msg("1", "1", "realtime:a", "phx_join", json!({"config":{"broadcast":{"self":true,"ack":true}}})), &Access::Open, now);
    let body = json!({"type":"broadcast","event":"hi","payload":{"n":1}});
    let effects = s.handle(msg("1", "2", "realtime:a", "broadcast", body.clone()), &Access::Open, now);
    assert_eq!(effects[0], Effect::Broadcast { topic: "realtime:a".into(), body: Broadcast::Json(body.clone()), include_self: true });
    assert_eq!(sent(&effects), vec![("phx_reply".into(), json!({"status":"ok","response":{}}))]);

    let mut s = session();
    s.handle(msg("1", "1", "realtime:a", "phx_join", json!({})), &Access::Open, now);
    let effects = s.handle(msg("1", "2", "realtime:a", "broadcast", body), &Access::Open, now);
    assert!(matches!(&effects[..], [Effect::Broadcast { include_self: false, .. }]), "no ack, no reply");
}

#[test]
fn listeners_may_not_send_authority_events_hosts_may() {
    let now = Instant::now();
    let ev = json!({"type":"broadcast","event":"host:queue_diff","payload":{}});
    let mut listener = Session::new(1, Some("L".into()), &Limits::default(), now);
    listener.handle(msg("1", "1", "realtime:room:r:queue", "phx_join", json!({})), &room(), now);
    let refused = listener.handle(msg("1", "2", "realtime:room:r:queue", "broadcast", ev.clone()), &room(), now);
    assert!(error_reason(&refused).starts_with("Forbidden: "));
    assert!(!refused.iter().any(|e| matches!(e, Effect::Broadcast { .. })));

    let ub = |event: &str| {
        Frame::UserBroadcastPush(UserBroadcastPush {
            join_ref: Some("1".into()),
            msg_ref: Some("3".into()),
            broadcast: UserBroadcast {
                topic: "realtime:room:r:queue".into(),
                event: event.into(),
                meta: Bytes::new(),
                encoding: PayloadEncoding::Json,
                payload: Bytes::from_static(b"{}"),
            },
        })
    };
    assert!(error_reason(&listener.handle(ub("host:snapshot"), &room(), now)).starts_with("Forbidden: "));
    assert!(matches!(&listener.handle(ub("chat"), &room(), now)[..], [Effect::Broadcast { .. }]));

    let mut host = Session::new(2, Some("H".into()), &Limits::default(), now);
    host.handle(msg("1", "1", "realtime:room:r:queue", "phx_join", json!({})), &room(), now);
    assert!(matches!(&host.handle(msg("1", "2", "realtime:room:r:queue", "broadcast", ev), &room(), now)[..], [Effect::Broadcast { .. }]));
}

#[test]
fn user_broadcast_push_carries_bytes_and_its_json_form() {
    let mut s = session();
    let now = Instant::now();
    s.handle(msg("1", "1", "realtime:a", "phx_join", json!({})), &Access::Open, now);
    let raw = UserBroadcast {
        topic: "realtime:a".into(),
        event: "ev".into(),
        meta: Bytes::from_static(br#"{"id":"m1"}"#),
        encoding: PayloadEncoding::Json,
        payload: Bytes::from_static(br#"{"n":2}"#),
    };
    let push = |raw: UserBroadcast| {
        Frame::UserBroadcastPush(UserBroadcastPush { join_ref: Some("1".into()), msg_ref: Some("2".into()), broadcast: raw })
    };
    let effects = s.handle(push(raw.clone()), &Access::Open, now);
    let Effect::Broadcast { body: Broadcast::User { json, .. }, .. } = &effects[0] else { panic!("{effects:?}") };
    assert_eq!(json.as_ref(), Some(&json!({"type":"broadcast","event":"ev","payload":{"n":2},"meta":{"id":"m1"}})));

    let binary = UserBroadcast { encoding: PayloadEncoding::Binary, payload: Bytes::from_static(&[0xff]), ..raw.clone() };
    let effects = s.handle(push(binary), &Access::Open, now);
    assert!(matches!(&effects[0], Effect::Broadcast { body: Broadcast::User { json: None, .. }, .. }));

    let bad = UserBroadcast { payload: Bytes::from_static(b"{nope"), ..raw };
    assert!(error_reason(&s.handle(push(bad), &Access::Open, now)).contains("not valid JSON"));
}

#[test]
fn presence_track_untrack_and_bad_payloads() {
    let mut s = session();
    let now = Instant::now();
    s.handle(msg("1", "1", "realtime:a", "phx_join", json!({"config":{"presence":{"key":"u1"}}})), &Access::Open, now);
    let effects = s.handle(
        msg("1", "2", "realtime:a", "presence", json!({"type":"presence","event":"track","payload":{"name":"ann"}})),
        &Access::Open,
        now,
    );
    assert!(matches!(&effects[0], Effect::Track { key, meta, .. } if key == "u1" && meta["name"] == "ann"));
    let effects = s.handle(msg("1", "3", "realtime:a", "presence", json!({"type":"presence","event":"untrack"})), &Access::Open, now);
    assert!(matches!(&effects[0], Effect::Untrack { .. }));
    let effects =
        s.handle(msg("1", "4", "realtime:a", "presence", json!({"type":"presence","event":"track","payload":5})), &Access::Open, now);
    assert!(error_reason(&effects).contains("object payload"));
    let effects = s.handle(msg("1", "5", "realtime:a", "presence", json!({"event":"dance"})), &Access::Open, now);
    assert!(error_reason(&effects).contains("track"));
}

#[test]
fn leave_replies_ok_then_closes() {
    let mut s = session();
    let now = Instant::now();
    s.handle(msg("1", "1", "realtime:a", "phx_join", json!({})), &Access::Open, now);
    let effects = s.handle(msg("1", "2", "realtime:a", "phx_leave", json!({})), &Access::Open, now);
    assert!(matches!(&effects[0], Effect::Unsubscribe { .. }));
    let events: Vec<_> = sent(&effects).into_iter().map(|(e, _)| e).collect();
    assert_eq!(events, ["phx_reply", "phx_close"]);
    assert_eq!(s.topics().count(), 0);
}

#[test]
fn a_refreshed_token_that_is_wrong_ends_the_channel() {
    let now = Instant::now();
    let mut s = Session::new(1, Some("L".into()), &Limits::default(), now);
    s.handle(msg("1", "1", "realtime:room:r", "phx_join", json!({})), &room(), now);
    assert!(s.handle(msg("1", "2", "realtime:room:r", "access_token", json!({"access_token":"H"})), &room(), now).is_empty());
    let effects = s.handle(msg("1", "3", "realtime:room:r", "access_token", json!({"access_token":"bad"})), &room(), now);
    let events: Vec<_> = sent(&effects).into_iter().map(|(e, _)| e).collect();
    assert_eq!(events, ["system", "phx_close"]);
    assert_eq!(s.topics().count(), 0);
}

#[test]
fn unknown_events_and_binary_pushes_get_clear_errors() {
    let mut s = session();
    let now = Instant::now();
    s.handle(msg("1", "1", "realtime:a", "phx_join", json!({})), &Access::Open, now);
    assert!(error_reason(&s.handle(msg("1", "2", "realtime:a", "new_msg", json!({})), &Access::Open, now)).contains("unknown event"));
    let bin = Frame::Message(
        Message::new("realtime:a", "broadcast", whatssound_protocol::Payload::Binary(Bytes::from_static(b"x")))
            .with_refs(Some("1".into()), Some("3".into())),
    );
    assert!(error_reason(&s.handle(bin, &Access::Open, now)).contains("binary kind 3"));
    let server_only = Frame::UserBroadcast(UserBroadcast {
        topic: "realtime:a".into(),
        event: "e".into(),
        meta: Bytes::new(),
        encoding: PayloadEncoding::Json,
        payload: Bytes::new(),
    });
    assert!(matches!(&s.handle(server_only, &Access::Open, now)[..], [Effect::Close { code: 1008, .. }]));
}

#[test]
fn the_rooms_host_socket_is_not_rate_limited() {
    let t0 = Instant::now();
    let limits = Limits { messages_per_second: 10, message_burst: 3, ..Limits::default() };
    let hb = |r: &str| Frame::Message(Message::new("phoenix", "heartbeat", json!({})).with_refs(None, Some(r.into())));
    let mut host = Session::new(1, Some("H".into()), &limits, t0);
    for i in 0..50 {
        assert_eq!(error_reason(&host.handle(hb(&i.to_string()), &room(), t0)), "", "the host carries the room's traffic");
    }
    let mut listener = Session::new(2, Some("L".into()), &limits, t0);
    let refused = (0..10).filter(|i| !error_reason(&listener.handle(hb(&i.to_string()), &room(), t0)).is_empty()).count();
    assert_eq!(refused, 7, "a listener's socket is limited as before");
}

#[test]
fn over_the_rate_each_message_gets_a_refusal_until_tokens_refill() {
    let t0 = Instant::now();
    let limits = Limits { messages_per_second: 10, message_burst: 3, ..Limits::default() };
    let mut s = Session::new(1, None, &limits, t0);
    let hb = |r: &str| Frame::Message(Message::new("phoenix", "heartbeat", json!({})).with_refs(None, Some(r.into())));
    for i in 0..3 {
        assert_eq!(error_reason(&s.handle(hb(&i.to_string()), &Access::Open, t0)), "");
    }
    assert!(error_reason(&s.handle(hb("4"), &Access::Open, t0)).starts_with("rate limit exceeded"));
    assert_eq!(error_reason(&s.handle(hb("5"), &Access::Open, t0 + Duration::from_millis(150))), "");
}
