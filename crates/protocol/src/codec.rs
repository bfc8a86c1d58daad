//! Decoding and encoding frames for a socket's [`Vsn`].
//!
//! The rules follow Phoenix's `V1.JSONSerializer` / `V2.JSONSerializer` and Supabase Realtime's
//! binary additions (kinds 3 and 4). Decoding never panics on any input — the property tests below
//! feed it arbitrary bytes — and every refusal says what was wrong, because the hub closes the
//! offending socket with that text as the close reason.

use crate::frame::{Frame, Vsn, WireFrame};
use crate::{binary, json};

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame is not valid JSON: {0}")]
    Json(String),
    #[error("a vsn 1.0.0 frame must be a JSON object with string topic and event and a payload: {0}")]
    V1Shape(&'static str),
    #[error("a vsn 2.0.0 text frame must be a JSON array [join_ref, ref, topic, event, payload]: {0}")]
    V2Shape(&'static str),
    #[error("binary frames need vsn 2.0.0")]
    BinaryOnV1,
    #[error("empty binary frame")]
    Empty,
    #[error("unknown binary frame kind {0}: expected 0 to 4")]
    UnknownKind(u8),
    #[error("binary frame of kind {kind} is truncated: its header needs {needed} bytes, the frame has {actual}")]
    Truncated { kind: u8, needed: usize, actual: usize },
    #[error("binary frame field `{0}` is not UTF-8")]
    NotUtf8(&'static str),
    #[error("unknown payload encoding {0}: expected 0 (binary) or 1 (JSON)")]
    UnknownEncoding(u8),
}

/// Why a frame could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("`{field}` is {len} bytes; a binary frame allows at most 255")]
    FieldTooLong { field: &'static str, len: usize },
    #[error("vsn 1.0.0 cannot carry binary payloads")]
    BinaryOnV1,
}

/// Decodes one WebSocket frame.
pub fn decode(vsn: Vsn, frame: &WireFrame) -> Result<Frame, DecodeError> {
    match (vsn, frame) {
        (Vsn::V1, WireFrame::Text(text)) => json::decode_v1(text).map(Frame::Message),
        (Vsn::V2, WireFrame::Text(text)) => json::decode_v2(text).map(Frame::Message),
        (Vsn::V1, WireFrame::Binary(_)) => Err(DecodeError::BinaryOnV1),
        (Vsn::V2, WireFrame::Binary(bytes)) => binary::decode(bytes),
    }
}

/// Encodes one frame. A [`Frame::Message`] with a JSON payload becomes text; everything else is
/// binary, which vsn 1.0.0 cannot carry.
///
/// vsn 1.0.0 messages never carry `join_ref`: Phoenix's V1 serializer omits it from everything the
/// server sends, and only servers speak V1 in this project.
pub fn encode(vsn: Vsn, frame: &Frame) -> Result<WireFrame, EncodeError> {
    match (vsn, frame) {
        (Vsn::V1, Frame::Message(m)) => json::encode_v1(m).map(WireFrame::Text),
        (Vsn::V1, _) => Err(EncodeError::BinaryOnV1),
        (Vsn::V2, frame) => match frame {
            Frame::Message(m) if m.payload.as_json().is_some() => json::encode_v2(m).map(WireFrame::Text),
            other => binary::encode(other).map(WireFrame::Binary),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::*;
    use bytes::Bytes;
    use proptest::prelude::*;
    use serde_json::json;

    fn text(s: &str) -> WireFrame {
        WireFrame::Text(s.to_owned())
    }

    // Golden frames: each is what phoenix.js 1.8 or realtime-js 2.11x put on the wire (see their
    // serializers) or what Phoenix 1.8 answers, byte for byte.

    #[test]
    fn heartbeat_and_its_reply_v2() {
        let f = decode(Vsn::V2, &text(r#"[null,"26","phoenix","heartbeat",{}]"#)).unwrap();
        let Frame::Message(m) = f else { panic!("expected a message") };
        assert_eq!((m.join_ref, m.msg_ref.as_deref(), m.topic.as_str(), m.event.as_str()), (None, Some("26"), "phoenix", "heartbeat"));
        let reply = Message::new("phoenix", "phx_reply", json!({"status":"ok","response":{}})).with_refs(None, Some("26".into()));
        assert_eq!(encode(Vsn::V2, &reply.into()).unwrap(), text(r#"[null,"26","phoenix","phx_reply",{"status":"ok","response":{}}]"#));
    }

    #[test]
    fn realtime_js_join_v2() {
        let raw = r#"["1","1","realtime:room1","phx_join",{"config":{"broadcast":{"ack":false,"self":true},"presence":{"key":"","enabled":true},"postgres_changes":[],"private":false},"access_token":"tok"}]"#;
        let Frame::Message(m) = decode(Vsn::V2, &text(raw)).unwrap() else { panic!() };
        assert_eq!(m.join_ref.as_deref(), Some("1"));
        assert_eq!(m.event, "phx_join");
        assert_eq!(m.payload.as_json().unwrap()["config"]["broadcast"]["self"], json!(true));
        // Re-encoding gives back the same bytes: a relay must not reshape what it forwards.
        assert_eq!(encode(Vsn::V2, &Frame::Message(m)).unwrap(), text(raw));
    }

    #[test]
    fn v1_object_in_and_out_without_join_ref() {
        let raw = r#"{"topic":"realtime:a","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}"#;
        let Frame::Message(m) = decode(Vsn::V1, &text(raw)).unwrap() else { panic!() };
        assert_eq!((m.join_ref.as_deref(), m.msg_ref.as_deref()), (Some("1"), Some("1")));
        let reply =
            Message::new("realtime:a", "phx_reply", json!({"status":"ok","response":{}})).with_refs(Some("1".into()), Some("1".into()));
        assert_eq!(
            encode(Vsn::V1, &reply.into()).unwrap(),
            text(r#"{"topic":"realtime:a","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"1"}"#)
        );
    }

    #[test]
    fn v1_refs_may_be_numbers_or_absent() {
        let Frame::Message(m) = decode(Vsn::V1, &text(r#"{"topic":"t","event":"e","payload":{},"ref":7}"#)).unwrap() else { panic!() };
        assert_eq!(m.msg_ref.as_deref(), Some("7"));
        let Frame::Message(m) = decode(Vsn::V1, &text(r#"{"topic":"t","event":"e","payload":[1]}"#)).unwrap() else { panic!() };
        assert_eq!(m.msg_ref, None);
    }

    #[test]
    fn realtime_js_user_broadcast_push_kind_3() {
        // realtime-js: channel.send({type:'broadcast', event:'hi', payload:{a:1}}) on join_ref "1", ref "3".
        let mut raw = vec![3, 1, 1, 14, 2, 0, 1];
        raw.extend_from_slice(b"13realtime:room1hi{\"a\":1}");
        let f = decode(Vsn::V2, &WireFrame::Binary(Bytes::from(raw.clone()))).unwrap();
        let Frame::UserBroadcastPush(p) = &f else { panic!("{f:?}") };
        assert_eq!((p.join_ref.as_deref(), p.msg_ref.as_deref()), (Some("1"), Some("3")));
        assert_eq!(p.broadcast.topic, "realtime:room1");
        assert_eq!(p.broadcast.event, "hi");
        assert_eq!(p.broadcast.encoding, PayloadEncoding::Json);
        assert_eq!(&p.broadcast.payload[..], br#"{"a":1}"#);
        assert_eq!(encode(Vsn::V2, &f).unwrap(), WireFrame::Binary(Bytes::from(raw)));
    }

    #[test]
    fn user_broadcast_kind_4_as_realtime_js_reads_it() {
        let b = UserBroadcast {
            topic: "realtime:r".into(),
            event: "ev".into(),
            meta: Bytes::from_static(br#"{"id":"x"}"#),
            encoding: PayloadEncoding::Binary,
            payload: Bytes::from_static(&[0, 255, 7]),
        };
        let WireFrame::Binary(bytes) = encode(Vsn::V2, &Frame::UserBroadcast(b.clone())).unwrap() else { panic!() };
        let mut want = vec![4, 10, 2, 10, 0];
        want.extend_from_slice(b"realtime:rev{\"id\":\"x\"}");
        want.extend_from_slice(&[0, 255, 7]);
        assert_eq!(&bytes[..], &want[..]);
        assert_eq!(decode(Vsn::V2, &WireFrame::Binary(bytes)).unwrap(), Frame::UserBroadcast(b));
    }

    #[test]
    fn phoenix_binary_kinds_0_1_2() {
        // phoenix.js binaryEncode of push(join_ref "1", ref "2", topic "t", event "e", payload [9,9]).
        let push = Bytes::from_static(&[0, 1, 1, 1, 1, b'1', b'2', b't', b'e', 9, 9]);
        let f = decode(Vsn::V2, &WireFrame::Binary(push.clone())).unwrap();
        assert_eq!(
            f,
            Frame::Message(
                Message::new("t", "e", Payload::Binary(Bytes::from_static(&[9, 9]))).with_refs(Some("1".into()), Some("2".into()))
            )
        );
        assert_eq!(encode(Vsn::V2, &f).unwrap(), WireFrame::Binary(push));

        let reply = Frame::BinaryReply(BinaryReply {
            join_ref: Some("1".into()),
            msg_ref: Some("2".into()),
            topic: "t".into(),
            status: "ok".into(),
            payload: Bytes::from_static(&[1]),
        });
        let WireFrame::Binary(b) = encode(Vsn::V2, &reply).unwrap() else { panic!() };
        assert_eq!(&b[..], &[1, 1, 1, 1, 2, b'1', b'2', b't', b'o', b'k', 1]);
        assert_eq!(decode(Vsn::V2, &WireFrame::Binary(b)).unwrap(), reply);

        let bc = Frame::BinaryBroadcast(BinaryBroadcast { topic: "t".into(), event: "e".into(), payload: Bytes::new() });
        let WireFrame::Binary(b) = encode(Vsn::V2, &bc).unwrap() else { panic!() };
        assert_eq!(&b[..], &[2, 1, 1, b't', b'e']);
        assert_eq!(decode(Vsn::V2, &WireFrame::Binary(b)).unwrap(), bc);
    }

    #[test]
    fn bad_frames_say_what_is_wrong() {
        let cases: &[(Vsn, WireFrame, &str)] = &[
            (Vsn::V2, text("not json"), "not valid JSON"),
            (Vsn::V2, text(r#"{"topic":"t"}"#), "JSON array"),
            (Vsn::V2, text(r#"[null,null,"t","e"]"#), "JSON array"),
            (Vsn::V2, text(r#"[null,null,5,"e",{}]"#), "topic"),
            (Vsn::V1, text(r#"["a"]"#), "JSON object"),
            (Vsn::V1, text(r#"{"topic":"t","payload":{}}"#), "event"),
            (Vsn::V1, WireFrame::Binary(Bytes::from_static(&[0])), "need vsn 2.0.0"),
            (Vsn::V2, WireFrame::Binary(Bytes::new()), "empty"),
            (Vsn::V2, WireFrame::Binary(Bytes::from_static(&[9, 0])), "kind 9"),
            (Vsn::V2, WireFrame::Binary(Bytes::from_static(&[0, 5, 0, 0, 0, b'x'])), "truncated"),
            (Vsn::V2, WireFrame::Binary(Bytes::from_static(&[2, 1, 0, 0xff])), "UTF-8"),
            (Vsn::V2, WireFrame::Binary(Bytes::from_static(&[4, 0, 0, 0, 7])), "encoding 7"),
        ];
        for (vsn, frame, needle) in cases {
            let err = decode(*vsn, frame).expect_err("must be refused").to_string();
            assert!(err.contains(needle), "{frame:?}: {err:?} should mention {needle:?}");
        }
    }

    #[test]
    fn long_fields_cannot_be_binary_encoded() {
        let m = Message::new("t".repeat(256), "e", Payload::Binary(Bytes::new()));
        assert_eq!(encode(Vsn::V2, &m.clone().into()), Err(EncodeError::FieldTooLong { field: "topic", len: 256 }));
        assert_eq!(encode(Vsn::V1, &m.into()), Err(EncodeError::BinaryOnV1));
    }

    fn short_string() -> impl Strategy<Value = String> {
        "[a-z0-9:_\\-]{0,40}"
    }

    fn opt_ref() -> impl Strategy<Value = Option<String>> {
        proptest::option::of("[0-9]{1,6}")
    }

    fn bytes() -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
    }

    fn user_broadcast() -> impl Strategy<Value = UserBroadcast> {
        (short_string(), short_string(), bytes(), any::<bool>()).prop_map(|(topic, event, payload, json)| UserBroadcast {
            topic,
            event,
            meta: Bytes::new(),
            encoding: if json { PayloadEncoding::Json } else { PayloadEncoding::Binary },
            payload,
        })
    }

    fn any_frame() -> impl Strategy<Value = Frame> {
        let json_payload =
            proptest::collection::btree_map(short_string(), any::<i64>(), 0..4).prop_map(|m| serde_json::to_value(m).unwrap_or_default());
        prop_oneof![
            (opt_ref(), opt_ref(), short_string(), short_string(), json_payload)
                .prop_map(|(j, r, t, e, p)| Frame::Message(Message::new(t, e, Payload::Json(p)).with_refs(j, r))),
            (opt_ref(), opt_ref(), short_string(), short_string(), bytes())
                .prop_map(|(j, r, t, e, p)| Frame::Message(Message::new(t, e, Payload::Binary(p)).with_refs(j, r))),
            (opt_ref(), opt_ref(), short_string(), short_string(), bytes()).prop_map(|(join_ref, msg_ref, topic, status, payload)| {
                Frame::BinaryReply(BinaryReply { join_ref, msg_ref, topic, status, payload })
            }),
            (short_string(), short_string(), bytes()).prop_map(|(topic, event, payload)| Frame::BinaryBroadcast(BinaryBroadcast {
                topic,
                event,
                payload
            })),
            (opt_ref(), opt_ref(), user_broadcast())
                .prop_map(|(join_ref, msg_ref, broadcast)| Frame::UserBroadcastPush(UserBroadcastPush { join_ref, msg_ref, broadcast })),
            user_broadcast().prop_map(Frame::UserBroadcast),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn decoding_arbitrary_bytes_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(Vsn::V2, &WireFrame::Binary(Bytes::from(raw.clone())));
            let text = String::from_utf8_lossy(&raw).into_owned();
            let _ = decode(Vsn::V2, &WireFrame::Text(text.clone()));
            let _ = decode(Vsn::V1, &WireFrame::Text(text));
        }

        #[test]
        fn decoding_mutated_valid_frames_never_panics(frame in any_frame(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>()) {
            if let Ok(WireFrame::Binary(b)) = encode(Vsn::V2, &frame) {
                let mut raw = b.to_vec();
                for (at, byte) in flips {
                    if !raw.is_empty() { let i = at % raw.len(); raw[i] = byte; }
                }
                raw.truncate(cut % (raw.len() + 1));
                let _ = decode(Vsn::V2, &WireFrame::Binary(Bytes::from(raw)));
            }
        }

        #[test]
        fn v2_round_trips(frame in any_frame()) {
            let wire = encode(Vsn::V2, &frame).unwrap();
            prop_assert_eq!(decode(Vsn::V2, &wire).unwrap(), frame);
        }

        #[test]
        fn v1_round_trips_json_messages(topic in short_string(), event in short_string(), r in opt_ref(), n in any::<i32>()) {
            let m = Message::new(topic, event, Payload::Json(serde_json::json!({"n": n}))).with_refs(None, r);
            let wire = encode(Vsn::V1, &Frame::Message(m.clone())).unwrap();
            prop_assert_eq!(decode(Vsn::V1, &wire).unwrap(), Frame::Message(m));
        }
    }
}
