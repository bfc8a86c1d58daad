//! Supabase Realtime semantics over real sockets: join config, broadcast self/ack, binary kind 3 in
//! and kind 4 / JSON out by dialect, presence, tokens and the authority prefix.

mod common;

use std::time::Duration;

use common::{Client, Got, TestHub, kind3};
use serde_json::json;
use whatssound_hub::{Access, Limits, RoomAccess};

const QUIET: Duration = Duration::from_millis(200);

#[tokio::test]
async fn broadcast_self_false_skips_the_sender_self_true_and_ack_do_not() {
    let hub = TestHub::open().await;
    let mut quiet = hub.realtime("").await;
    let mut loud = hub.realtime("").await;
    let jq = quiet.join("realtime:r", json!({"config": {"broadcast": {"self": false}, "presence": {"enabled": false}}})).await;
    let jl = loud.join("realtime:r", json!({"config": {"broadcast": {"self": true, "ack": true}, "presence": {"enabled": false}}})).await;

    quiet.push(Some(&jq), "realtime:r", "broadcast", json!({"type":"broadcast","event":"e","payload":{"from":"quiet"}})).await;
    let got = loud.until(|v| v[3] == "broadcast").await;
    assert_eq!(got, json!([null, null, "realtime:r", "broadcast", {"type":"broadcast","event":"e","payload":{"from":"quiet"}}]));
    quiet.silent_for(QUIET).await;

    let r = loud.push(Some(&jl), "realtime:r", "broadcast", json!({"type":"broadcast","event":"e","payload":{"from":"loud"}})).await;
    let mut saw_self = false;
    let mut saw_ack = false;
    while !(saw_self && saw_ack) {
        let Got::Json(v) = loud.next().await else { panic!() };
        saw_self |= v[3] == "broadcast" && v[4]["payload"]["from"] == "loud";
        saw_ack |= v[3] == "phx_reply" && v[1] == r.as_str() && v[4]["status"] == "ok";
    }
    assert_eq!(quiet.until(|v| v[3] == "broadcast").await[4]["payload"]["from"], "loud");
    hub.stop().await;
}

#[tokio::test]
async fn kind_3_goes_out_as_kind_4_to_realtime_and_as_json_to_phoenix_and_v1() {
    let hub = TestHub::open().await;
    let mut sender = hub.realtime("").await;
    let mut rt = hub.realtime("").await;
    let mut px = hub.phoenix().await;
    let mut v1 = Client::connect(&format!("{}/realtime/v1/websocket?vsn=1.0.0", hub.base)).await;
    let off = json!({"config": {"presence": {"enabled": false}}});
    let js = sender.join("realtime:r", off.clone()).await;
    rt.join("realtime:r", off.clone()).await;
    px.join("realtime:r", off).await;
    v1.send_text(
        r#"{"topic":"realtime:r","event":"phx_join","payload":{"config":{"presence":{"enabled":false}}},"ref":"1","join_ref":"1"}"#,
    )
    .await;
    v1.until(|v| v["event"] == "phx_reply").await;

    sender.send_binary(kind3(&js, "9", "realtime:r", "hi", 1, br#"{"n":1}"#)).await;
    let Got::Binary(b) = rt.next().await else { panic!("realtime-js gets binary") };
    let mut want = vec![4, 10, 2, 0, 1];
    want.extend_from_slice(b"realtime:rhi{\"n\":1}");
    assert_eq!(b, want, "kind 4, payload bytes untouched");
    assert_eq!(px.until(|v| v[3] == "broadcast").await[4], json!({"type":"broadcast","event":"hi","payload":{"n":1}}));
    let v = v1.until(|v| v["event"] == "broadcast").await;
    assert_eq!(
        v,
        json!({"topic":"realtime:r","event":"broadcast","payload":{"type":"broadcast","event":"hi","payload":{"n":1}},"ref":null})
    );

    // An opaque binary payload has no JSON form: only the kind-4 reader gets it.
    sender.send_binary(kind3(&js, "10", "realtime:r", "raw", 0, &[0, 159, 255])).await;
    let Got::Binary(b) = rt.next().await else { panic!() };
    assert!(b.ends_with(&[0, 159, 255]) && b[4] == 0);
    px.silent_for(QUIET).await;
    v1.silent_for(QUIET).await;
    hub.stop().await;
}

#[tokio::test]
async fn presence_state_then_diffs_on_track_update_untrack_and_close() {
    let hub = TestHub::open().await;
    let mut watcher = hub.phoenix().await;
    watcher.join("realtime:p", json!({})).await;
    watcher.until(|v| v[3] == "presence_state").await;

    let mut ann = hub.realtime("").await;
    let ja = ann.join("realtime:p", json!({"config": {"presence": {"key": "ann"}}})).await;
    let r = ann.push(Some(&ja), "realtime:p", "presence", json!({"type":"presence","event":"track","payload":{"mood":"happy"}})).await;
    assert_eq!(ann.reply_to(&r).await[4]["status"], "ok");
    let diff = watcher.until(|v| v[3] == "presence_diff").await;
    let first_ref = diff[4]["joins"]["ann"]["metas"][0]["phx_ref"].clone();
    assert_eq!(diff[4]["joins"]["ann"]["metas"][0]["mood"], "happy");
    assert_eq!(diff[4]["leaves"], json!({}));

    // An update: the new meta joins with phx_ref_prev, the old one leaves, in one diff.
    ann.push(Some(&ja), "realtime:p", "presence", json!({"type":"presence","event":"track","payload":{"mood":"calm"}})).await;
    let diff = watcher.until(|v| v[3] == "presence_diff").await;
    assert_eq!(diff[4]["joins"]["ann"]["metas"][0]["phx_ref_prev"], first_ref);
    assert_eq!(diff[4]["leaves"]["ann"]["metas"][0]["mood"], "happy");

    // A late joiner gets the whole state.
    let mut late = hub.phoenix().await;
    late.join("realtime:p", json!({})).await;
    let state = late.until(|v| v[3] == "presence_state").await;
    assert_eq!(state[4]["ann"]["metas"][0]["mood"], "calm");

    ann.push(Some(&ja), "realtime:p", "presence", json!({"type":"presence","event":"untrack"})).await;
    assert_eq!(watcher.until(|v| v[3] == "presence_diff").await[4]["leaves"]["ann"]["metas"][0]["mood"], "calm");

    // Tracking again, then the socket closes: a leave goes out.
    ann.push(Some(&ja), "realtime:p", "presence", json!({"type":"presence","event":"track","payload":{"mood":"gone soon"}})).await;
    watcher.until(|v| v[3] == "presence_diff").await;
    ann.close().await;
    let diff = watcher.until(|v| v[3] == "presence_diff").await;
    assert_eq!(diff[4]["leaves"]["ann"]["metas"][0]["mood"], "gone soon");
    hub.stop().await;
}

#[tokio::test]
async fn an_empty_presence_key_gets_a_server_made_one() {
    let hub = TestHub::open().await;
    let mut c = hub.realtime("").await;
    let j = c.join("realtime:p", json!({"config": {"presence": {"key": "", "enabled": true}}})).await;
    c.push(Some(&j), "realtime:p", "presence", json!({"type":"presence","event":"track","payload":{}})).await;
    let diff = c.until(|v| v[3] == "presence_diff").await;
    let keys: Vec<_> = diff[4]["joins"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys.len(), 1);
    assert!(!keys[0].is_empty());
    hub.stop().await;
}

fn room() -> Access {
    Access::Room(RoomAccess { room: "jam".into(), host_token: "HOST".into(), listener_token: "LISTEN".into() })
}

#[tokio::test]
async fn tokens_from_query_or_join_payload_and_unauthorized_joins() {
    let hub = TestHub::start(room(), Limits::default()).await;
    let mut anon = hub.realtime("").await;
    let (_, reply) = anon.join_reply("realtime:room:jam", json!({})).await;
    assert_eq!(reply[4]["status"], "error");
    assert!(reply[4]["response"]["reason"].as_str().unwrap().starts_with("Unauthorized: "), "{reply}");
    // The socket stays open: the same socket may join with a token in the payload.
    anon.join("realtime:room:jam", json!({"access_token": "LISTEN"})).await;

    let mut by_apikey = hub.realtime("&apikey=LISTEN").await;
    by_apikey.join("realtime:room:jam:chat", json!({})).await;
    let mut by_token = hub.phoenix().await;
    let (_, reply) = by_token.join_reply("realtime:room:jam", json!({"access_token": "WRONG"})).await;
    assert!(reply[4]["response"]["reason"].as_str().unwrap().starts_with("Unauthorized: "));
    let (_, reply) = by_apikey.join_reply("realtime:room:other", json!({})).await;
    assert!(reply[4]["response"]["reason"].as_str().unwrap().contains("serves room jam only"));
    hub.stop().await;
}

#[tokio::test]
async fn listeners_cannot_send_authority_events_the_host_can() {
    let hub = TestHub::start(room(), Limits::default()).await;
    let topic = "realtime:room:jam:queue";
    let off = json!({"config": {"presence": {"enabled": false}}});
    let mut host = hub.realtime("&apikey=HOST").await;
    let mut listener = hub.realtime("&apikey=LISTEN").await;
    let jh = host.join(topic, off.clone()).await;
    let jl = listener.join(topic, off).await;

    let r = listener.push(Some(&jl), topic, "broadcast", json!({"type":"broadcast","event":"host:queue_diff","payload":{}})).await;
    let reply = listener.reply_to(&r).await;
    assert!(reply[4]["response"]["reason"].as_str().unwrap().starts_with("Forbidden: "), "{reply}");
    listener.send_binary(kind3(&jl, "77", topic, "host:snapshot", 1, b"{}")).await;
    assert!(listener.reply_to("77").await[4]["response"]["reason"].as_str().unwrap().starts_with("Forbidden: "));
    host.silent_for(QUIET).await;

    host.push(Some(&jh), topic, "broadcast", json!({"type":"broadcast","event":"host:queue_diff","payload":{"seq":1}})).await;
    assert_eq!(listener.until(|v| v[3] == "broadcast").await[4]["payload"]["seq"], 1);
    hub.stop().await;
}

#[tokio::test]
async fn a_refreshed_access_token_is_checked() {
    let hub = TestHub::start(room(), Limits::default()).await;
    let mut c = hub.realtime("&apikey=LISTEN").await;
    let j = c.join("realtime:room:jam", json!({"config": {"presence": {"enabled": false}}})).await;
    c.push(Some(&j), "realtime:room:jam", "access_token", json!({"access_token": "LISTEN"})).await;
    c.silent_for(QUIET).await;
    c.push(Some(&j), "realtime:room:jam", "access_token", json!({"access_token": "expired"})).await;
    let system = c.until(|v| v[3] == "system").await;
    assert!(system[4]["message"].as_str().unwrap().starts_with("Unauthorized: "));
    c.until(|v| v[3] == "phx_close").await;
    hub.stop().await;
}
