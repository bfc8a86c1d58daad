//! Bad input and limits: each refused with a clear reason, only the offender affected.

mod common;

use std::time::Duration;

use common::{Got, TestHub};
use serde_json::json;
use whatssound_hub::{Access, Limits};

/// Two bystanders exchange a broadcast: proof the hub is unaffected.
async fn bystanders_still_talk(hub: &TestHub) {
    let mut a = hub.phoenix().await;
    let mut b = hub.realtime("").await;
    let ja = a.join("realtime:ok", json!({})).await;
    b.join("realtime:ok", json!({})).await;
    a.push(Some(&ja), "realtime:ok", "broadcast", json!({"type":"broadcast","event":"still","payload":{}})).await;
    assert_eq!(b.until(|v| v[3] == "broadcast").await[4]["event"], "still");
}

#[tokio::test]
async fn malformed_frames_close_only_the_offending_socket() {
    let hub = TestHub::open().await;
    let mut watcher = hub.phoenix().await;
    watcher.join("realtime:ok", json!({})).await;
    let cases: Vec<(bool, Vec<u8>, &str)> = vec![
        (true, b"not json".to_vec(), "not valid JSON"),
        (true, br#"{"topic":"x"}"#.to_vec(), "JSON array"),
        (true, br#"[1,2,3]"#.to_vec(), "JSON array"),
        (false, vec![9, 9, 9], "kind 9"),
        (false, vec![0, 200, 0, 0, 0], "truncated"),
        (false, vec![4, 0, 0, 0, 1], "servers only"),
    ];
    for (text, bytes, needle) in cases {
        let mut bad = hub.phoenix().await;
        if text {
            bad.send_text(std::str::from_utf8(&bytes).unwrap()).await;
        } else {
            bad.send_binary(bytes).await;
        }
        let (code, reason) = bad.closed().await.expect("a close frame");
        assert_eq!(code, 1008, "{reason}");
        assert!(reason.starts_with("malformed frame: ") && reason.contains(needle), "{reason}");
    }
    // v1 sockets cannot send binary at all.
    let mut v1 = common::Client::connect(&format!("{}/socket/websocket?vsn=1.0.0", hub.base)).await;
    v1.send_binary(vec![0, 0, 0, 0, 0]).await;
    assert!(v1.closed().await.unwrap().1.contains("vsn 2.0.0"));

    watcher.send_text(r#"[null,"hb","phoenix","heartbeat",{}]"#).await;
    watcher.reply_to("hb").await;
    bystanders_still_talk(&hub).await;
    hub.stop().await;
}

#[tokio::test]
async fn an_oversized_message_closes_with_1009() {
    let limits = Limits { max_frame_bytes: 64 * 1024, ..Limits::default() };
    let hub = TestHub::start(Access::Open, limits).await;
    let mut big = hub.phoenix().await;
    let j = big.join("realtime:ok", json!({})).await;
    let payload = "x".repeat(100 * 1024);
    big.push(Some(&j), "realtime:ok", "broadcast", json!({"type":"broadcast","event":"big","payload":payload})).await;
    let (code, reason) = big.closed().await.expect("a close frame");
    assert_eq!(code, 1009);
    assert!(reason.contains("65536-byte limit"), "{reason}");
    bystanders_still_talk(&hub).await;
    hub.stop().await;
}

#[tokio::test]
async fn over_the_message_rate_each_push_gets_a_clear_refusal() {
    let limits = Limits { messages_per_second: 5, message_burst: 5, ..Limits::default() };
    let hub = TestHub::start(Access::Open, limits).await;
    let mut c = hub.phoenix().await;
    for i in 0..8 {
        c.send_text(&format!(r#"[null,"{i}","phoenix","heartbeat",{{}}]"#)).await;
    }
    let mut refused = 0;
    for i in 0..8 {
        let reply = c.reply_to(&i.to_string()).await;
        if reply[4]["status"] == "error" {
            assert!(reply[4]["response"]["reason"].as_str().unwrap().starts_with("rate limit exceeded"));
            refused += 1;
        }
    }
    // 5 fit the burst; a slow machine may refill one or two between sends, never all three.
    assert!((1..=3).contains(&refused), "got {refused} refused");
    bystanders_still_talk(&hub).await;
    hub.stop().await;
}

#[tokio::test]
async fn shutdown_sends_every_socket_a_close_frame() {
    let hub = TestHub::open().await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut c = hub.phoenix().await;
        c.join("realtime:a", json!({})).await;
        clients.push(c);
    }
    let mut idle = hub.realtime("").await;
    idle.send_text(r#"[null,"1","phoenix","heartbeat",{}]"#).await;
    idle.reply_to("1").await;
    clients.push(idle);
    assert_eq!(hub.hub.stats().sockets, 4);
    let stats = hub.hub.clone();
    hub.stop().await;
    for mut c in clients {
        let got = loop {
            match c.next().await {
                Got::Closed(c) => break c,
                _ => continue,
            }
        };
        assert_eq!(got, Some((1001, "server shutting down".into())));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(stats.stats().sockets, 0);
}

#[tokio::test]
async fn what_was_queued_for_a_socket_before_shutdown_reaches_it_before_the_close() {
    // A host's last word is "the room closed", broadcast with an ack, and then the hub stops. The
    // ack means the hub queued it for every subscriber; shutdown must not drop what is queued.
    // Here the listener is slow to read (its TCP buffers full of 128 KB broadcasts) when it comes.
    let hub = TestHub::open().await;
    let mut listener = hub.phoenix().await;
    listener.join("realtime:room", json!({"config": {"presence": {"enabled": false}}})).await;
    let mut host = hub.phoenix().await;
    let jh = host.join("realtime:room", json!({"config": {"broadcast": {"ack": true}, "presence": {"enabled": false}}})).await;
    let bulk = "x".repeat(128 * 1024);
    for n in 0..100 {
        let event = if n == 99 { "closed" } else { "bulk" };
        let r = host.push(Some(&jh), "realtime:room", "broadcast", json!({"type":"broadcast","event":event,"payload":{"b":bulk}})).await;
        host.reply_to(&r).await;
    }
    let stopping = tokio::spawn(hub.stop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut heard = 0;
    let close = loop {
        match listener.next().await {
            Got::Json(v) if v[3] == "broadcast" && v[4]["event"] == "closed" => heard += 1,
            Got::Json(_) | Got::Binary(_) => {}
            Got::Closed(c) => break c,
        }
    };
    assert_eq!(heard, 1, "the close ({close:?}) came without the broadcast queued before it");
    assert_eq!(close, Some((1001, "server shutting down".into())));
    stopping.await.unwrap();
}

#[tokio::test]
async fn a_subscriber_that_stops_reading_is_dropped_and_leaves_presence() {
    let limits = Limits { outbound_queue: 16, messages_per_second: 10_000, message_burst: 10_000, ..Limits::default() };
    let hub = TestHub::start(Access::Open, limits).await;
    let mut watcher = hub.phoenix().await;
    watcher.join("realtime:room", json!({})).await;
    let mut stalled = hub.phoenix().await;
    let js = stalled.join("realtime:room", json!({"config": {"presence": {"key": "stalled"}}})).await;
    stalled.push(Some(&js), "realtime:room", "presence", json!({"type":"presence","event":"track","payload":{}})).await;
    watcher.until(|v| v[3] == "presence_diff" && v[4]["joins"]["stalled"].is_object()).await;
    stalled.join("realtime:busy", json!({"config": {"presence": {"enabled": false}}})).await;
    // From here on `stalled` is never read again.

    let mut sender = hub.phoenix().await;
    let jsend = sender.join("realtime:busy", json!({"config": {"presence": {"enabled": false}}})).await;
    let big = "x".repeat(64 * 1024);
    for _ in 0..400 {
        sender.push(Some(&jsend), "realtime:busy", "broadcast", json!({"type":"broadcast","event":"b","payload":big})).await;
    }
    let diff = watcher.until(|v| v[3] == "presence_diff" && v[4]["leaves"]["stalled"].is_object()).await;
    assert_eq!(diff[4]["leaves"]["stalled"]["metas"].as_array().map(Vec::len), Some(1));
    bystanders_still_talk(&hub).await;
    drop(stalled);
    hub.stop().await;
}
