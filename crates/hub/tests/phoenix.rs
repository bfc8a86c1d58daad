//! Phoenix Channels semantics over a real socket: endpoints, vsn, heartbeat, join/leave/close,
//! unmatched topics, duplicate joins, the channel limit, and join_ref on server messages.

mod common;

use std::time::Duration;

use common::{Client, Got, TestHub};
use serde_json::json;
use whatssound_hub::{Access, Limits};

#[tokio::test]
async fn heartbeat_on_both_endpoints() {
    let hub = TestHub::open().await;
    for mut c in [hub.phoenix().await, hub.realtime("").await] {
        c.send_text(r#"[null,"26","phoenix","heartbeat",{}]"#).await;
        let Got::Json(reply) = c.next().await else { panic!() };
        assert_eq!(reply, json!([null, "26", "phoenix", "phx_reply", {"status": "ok", "response": {}}]));
    }
    hub.stop().await;
}

#[tokio::test]
async fn no_vsn_means_v1_objects_and_v1_replies_omit_join_ref() {
    let hub = TestHub::open().await;
    let mut c = Client::connect(&format!("{}/socket/websocket", hub.base)).await;
    c.send_text(r#"{"topic":"realtime:a","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}"#).await;
    let Got::Json(reply) = c.next().await else { panic!() };
    assert_eq!(reply, json!({"topic": "realtime:a", "event": "phx_reply", "payload": {"status": "ok", "response": {}}, "ref": "1"}));
    let Got::Json(state) = c.next().await else { panic!() };
    assert_eq!(state, json!({"topic": "realtime:a", "event": "presence_state", "payload": {}, "ref": null}));
    hub.stop().await;
}

#[tokio::test]
async fn unknown_vsn_is_refused_at_upgrade_with_the_reason() {
    let hub = TestHub::open().await;
    let url = format!("{}/socket/websocket?vsn=3.0.0", hub.base);
    let err = tokio_tungstenite::connect_async(&url).await.expect_err("upgrade refused");
    let tokio_tungstenite::tungstenite::Error::Http(response) = err else { panic!("{err:?}") };
    assert_eq!(response.status(), 400);
    let body = String::from_utf8(response.body().clone().unwrap_or_default()).unwrap();
    assert!(body.contains("unsupported vsn \"3.0.0\""), "{body}");
    hub.stop().await;
}

#[tokio::test]
async fn join_reply_and_presence_state_carry_the_join_ref() {
    let hub = TestHub::open().await;
    let mut c = hub.phoenix().await;
    c.send_text(r#"["7","8","realtime:a","phx_join",{}]"#).await;
    let Got::Json(reply) = c.next().await else { panic!() };
    assert_eq!(reply, json!(["7", "8", "realtime:a", "phx_reply", {"status": "ok", "response": {}}]));
    let Got::Json(state) = c.next().await else { panic!() };
    assert_eq!(state, json!(["7", null, "realtime:a", "presence_state", {}]));
    hub.stop().await;
}

#[tokio::test]
async fn unknown_topics_and_pushes_to_unjoined_topics_are_unmatched() {
    let hub = TestHub::open().await;
    let mut c = hub.phoenix().await;
    let (_, reply) = c.join_reply("rooms:lobby", json!({})).await;
    assert_eq!(reply[4], json!({"status": "error", "response": {"reason": "unmatched topic"}}));
    let r = c.push(Some("1"), "realtime:never-joined", "broadcast", json!({"type":"broadcast","event":"x","payload":{}})).await;
    let reply = c.reply_to(&r).await;
    assert_eq!(reply[4]["response"]["reason"], "unmatched topic");
    hub.stop().await;
}

#[tokio::test]
async fn a_second_join_of_a_topic_closes_the_first() {
    let hub = TestHub::open().await;
    let mut c = hub.phoenix().await;
    let first = c.join("realtime:a", json!({})).await;
    c.send_text(r#"["50","50","realtime:a","phx_join",{}]"#).await;
    let close = c.until(|v| v[3] == "phx_close").await;
    assert_eq!(close, json!([first, first, "realtime:a", "phx_close", {}]));
    let reply = c.reply_to("50").await;
    assert_eq!(reply[4]["status"], "ok");
    hub.stop().await;
}

#[tokio::test]
async fn leave_replies_ok_and_closes_and_stops_delivery() {
    let hub = TestHub::open().await;
    let mut a = hub.phoenix().await;
    let mut b = hub.phoenix().await;
    let ja = a.join("realtime:a", json!({})).await;
    let jb = b.join("realtime:a", json!({})).await;
    let r = a.push(Some(&ja), "realtime:a", "phx_leave", json!({})).await;
    assert_eq!(a.reply_to(&r).await[4]["status"], "ok");
    a.until(|v| v[3] == "phx_close").await;
    b.push(Some(&jb), "realtime:a", "broadcast", json!({"type":"broadcast","event":"x","payload":{}})).await;
    a.silent_for(Duration::from_millis(200)).await;
    hub.stop().await;
}

#[tokio::test]
async fn at_most_100_channels_per_socket() {
    let hub = TestHub::open().await;
    let mut c = hub.phoenix().await;
    for i in 0..100 {
        c.join(&format!("realtime:t{i}"), json!({"config": {"presence": {"enabled": false}}})).await;
    }
    let (_, reply) = c.join_reply("realtime:one-too-many", json!({})).await;
    assert_eq!(reply[4]["response"]["reason"], "too many channels joined");
    // The socket and its channels still work.
    c.send_text(r#"[null,"hb","phoenix","heartbeat",{}]"#).await;
    assert_eq!(c.reply_to("hb").await[4]["status"], "ok");
    hub.stop().await;
}

#[tokio::test]
async fn a_silent_socket_is_closed_after_the_idle_timeout() {
    let limits = Limits { idle_timeout: Duration::from_millis(600), ..Limits::default() };
    let hub = TestHub::start(Access::Open, limits).await;
    let mut silent = hub.phoenix().await;
    let mut chatty = hub.phoenix().await;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        chatty.send_text(r#"[null,"1","phoenix","heartbeat",{}]"#).await;
        chatty.reply_to("1").await;
    }
    let (code, reason) = silent.closed().await.expect("a close frame");
    assert_eq!(code, 1000);
    assert!(reason.contains("idle"), "{reason}");
    chatty.send_text(r#"[null,"2","phoenix","heartbeat",{}]"#).await;
    chatty.reply_to("2").await;
    hub.stop().await;
}
