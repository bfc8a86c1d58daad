//! The JSON serializers: vsn 1.0.0 objects and vsn 2.0.0 arrays.

use serde_json::{Map, Value};

use crate::codec::{DecodeError, EncodeError};
use crate::frame::{Message, Payload};

pub(crate) fn decode_v1(text: &str) -> Result<Message, DecodeError> {
    let value: Value = serde_json::from_str(text).map_err(|e| DecodeError::Json(e.to_string()))?;
    let Value::Object(mut obj) = value else {
        return Err(DecodeError::V1Shape("got something else"));
    };
    let topic = take_string(&mut obj, "topic").ok_or(DecodeError::V1Shape("`topic` is missing or not a string"))?;
    let event = take_string(&mut obj, "event").ok_or(DecodeError::V1Shape("`event` is missing or not a string"))?;
    let payload = obj.remove("payload").ok_or(DecodeError::V1Shape("`payload` is missing"))?;
    let msg_ref = obj.remove("ref").map(ref_string).transpose().map_err(DecodeError::V1Shape)?.flatten();
    let join_ref = obj.remove("join_ref").map(ref_string).transpose().map_err(DecodeError::V1Shape)?.flatten();
    Ok(Message { join_ref, msg_ref, topic, event, payload: Payload::Json(payload) })
}

pub(crate) fn decode_v2(text: &str) -> Result<Message, DecodeError> {
    let value: Value = serde_json::from_str(text).map_err(|e| DecodeError::Json(e.to_string()))?;
    let Value::Array(items) = value else {
        return Err(DecodeError::V2Shape("got something else"));
    };
    let Ok([join_ref, msg_ref, topic, event, payload]) = <[Value; 5]>::try_from(items) else {
        return Err(DecodeError::V2Shape("it needs exactly 5 elements"));
    };
    let Value::String(topic) = topic else {
        return Err(DecodeError::V2Shape("the topic is not a string"));
    };
    let Value::String(event) = event else {
        return Err(DecodeError::V2Shape("the event is not a string"));
    };
    Ok(Message {
        join_ref: ref_string(join_ref).map_err(DecodeError::V2Shape)?,
        msg_ref: ref_string(msg_ref).map_err(DecodeError::V2Shape)?,
        topic,
        event,
        payload: Payload::Json(payload),
    })
}

pub(crate) fn encode_v1(m: &Message) -> Result<String, EncodeError> {
    let Payload::Json(payload) = &m.payload else {
        return Err(EncodeError::BinaryOnV1);
    };
    // Field order as Phoenix writes it; join_ref omitted on purpose (see `codec::encode`).
    #[derive(serde::Serialize)]
    struct V1<'a> {
        topic: &'a str,
        event: &'a str,
        payload: &'a Value,
        #[serde(rename = "ref")]
        msg_ref: &'a Option<String>,
    }
    Ok(to_string(&V1 { topic: &m.topic, event: &m.event, payload, msg_ref: &m.msg_ref }))
}

pub(crate) fn encode_v2(m: &Message) -> Result<String, EncodeError> {
    let Payload::Json(payload) = &m.payload else {
        return Err(EncodeError::BinaryOnV1);
    };
    Ok(to_string(&(&m.join_ref, &m.msg_ref, &m.topic, &m.event, payload)))
}

fn to_string<T: serde::Serialize>(value: &T) -> String {
    // Serializing these shapes (strings, options and an already-valid `Value`) cannot fail:
    // serde_json only errors on maps with non-string keys, which `Value` cannot hold.
    serde_json::to_string(value).unwrap_or_default()
}

fn take_string(obj: &mut Map<String, Value>, key: &str) -> Option<String> {
    match obj.remove(key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// Refs are strings in both official clients; numbers are accepted (older clients sent them) and
/// kept as their decimal text.
fn ref_string(v: Value) -> Result<Option<String>, &'static str> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err("a ref must be a string, a number or null"),
    }
}
