//! The binary frames of vsn 2.0.0: Phoenix's kinds 0–2 and Supabase's kinds 3–4.
//!
//! Every variable-length field except the payload is preceded by a one-byte length in a fixed
//! header, so a field is at most 255 bytes; the payload is the rest of the frame.

use bytes::{BufMut, Bytes, BytesMut};

use crate::codec::{DecodeError, EncodeError};
use crate::frame::{BinaryBroadcast, BinaryReply, Frame, Message, Payload, PayloadEncoding, UserBroadcast, UserBroadcastPush};

const PUSH: u8 = 0;
const REPLY: u8 = 1;
const BROADCAST: u8 = 2;
const USER_BROADCAST_PUSH: u8 = 3;
const USER_BROADCAST: u8 = 4;

pub(crate) fn decode(bytes: &Bytes) -> Result<Frame, DecodeError> {
    let kind = *bytes.first().ok_or(DecodeError::Empty)?;
    match kind {
        PUSH => {
            let mut r = Reader::new(bytes, kind, 4)?;
            let (join_ref, msg_ref) = (r.opt_string("join_ref")?, r.opt_string("ref")?);
            let (topic, event) = (r.string("topic")?, r.string("event")?);
            Ok(Frame::Message(Message { join_ref, msg_ref, topic, event, payload: Payload::Binary(r.rest()) }))
        }
        REPLY => {
            let mut r = Reader::new(bytes, kind, 4)?;
            let (join_ref, msg_ref) = (r.opt_string("join_ref")?, r.opt_string("ref")?);
            let (topic, status) = (r.string("topic")?, r.string("status")?);
            Ok(Frame::BinaryReply(BinaryReply { join_ref, msg_ref, topic, status, payload: r.rest() }))
        }
        BROADCAST => {
            let mut r = Reader::new(bytes, kind, 2)?;
            let (topic, event) = (r.string("topic")?, r.string("event")?);
            Ok(Frame::BinaryBroadcast(BinaryBroadcast { topic, event, payload: r.rest() }))
        }
        USER_BROADCAST_PUSH => {
            let mut r = Reader::new(bytes, kind, 6)?;
            let encoding = encoding(r.extra)?;
            let (join_ref, msg_ref) = (r.opt_string("join_ref")?, r.opt_string("ref")?);
            let broadcast = r.user_broadcast(encoding)?;
            Ok(Frame::UserBroadcastPush(UserBroadcastPush { join_ref, msg_ref, broadcast }))
        }
        USER_BROADCAST => {
            let mut r = Reader::new(bytes, kind, 4)?;
            let encoding = encoding(r.extra)?;
            Ok(Frame::UserBroadcast(r.user_broadcast(encoding)?))
        }
        other => Err(DecodeError::UnknownKind(other)),
    }
}

pub(crate) fn encode(frame: &Frame) -> Result<Bytes, EncodeError> {
    let mut w = Writer::default();
    match frame {
        Frame::Message(m) => {
            w.header(PUSH, &[("join_ref", opt(&m.join_ref)), ("ref", opt(&m.msg_ref)), ("topic", &m.topic), ("event", &m.event)], None)?;
            w.payload(binary_payload(&m.payload))
        }
        Frame::BinaryReply(r) => {
            w.header(REPLY, &[("join_ref", opt(&r.join_ref)), ("ref", opt(&r.msg_ref)), ("topic", &r.topic), ("status", &r.status)], None)?;
            w.payload(&r.payload)
        }
        Frame::BinaryBroadcast(b) => {
            w.header(BROADCAST, &[("topic", &b.topic), ("event", &b.event)], None)?;
            w.payload(&b.payload)
        }
        Frame::UserBroadcastPush(p) => {
            let b = &p.broadcast;
            w.header(
                USER_BROADCAST_PUSH,
                &[
                    ("join_ref", opt(&p.join_ref)),
                    ("ref", opt(&p.msg_ref)),
                    ("topic", &b.topic),
                    ("event", &b.event),
                    ("meta", meta_str(&b.meta)),
                ],
                Some(b.encoding as u8),
            )?;
            w.payload(&b.payload)
        }
        Frame::UserBroadcast(b) => {
            w.header(USER_BROADCAST, &[("topic", &b.topic), ("event", &b.event), ("meta", meta_str(&b.meta))], Some(b.encoding as u8))?;
            w.payload(&b.payload)
        }
    }
}

fn encoding(byte: u8) -> Result<PayloadEncoding, DecodeError> {
    match byte {
        0 => Ok(PayloadEncoding::Binary),
        1 => Ok(PayloadEncoding::Json),
        other => Err(DecodeError::UnknownEncoding(other)),
    }
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("")
}

fn binary_payload(p: &Payload) -> &[u8] {
    match p {
        Payload::Binary(b) => b,
        // `codec::encode` sends JSON payloads as text; an empty body is the only sane fallback.
        Payload::Json(_) => &[],
    }
}

/// Metadata is JSON text; bytes that are not UTF-8 were refused at decode, so this is lossless for
/// every frame that came off the wire.
fn meta_str(meta: &Bytes) -> &str {
    std::str::from_utf8(meta).unwrap_or("")
}

/// Reads the fixed header (kind, one length byte per field, and for kinds 3/4 an encoding byte),
/// then the fields in order.
struct Reader<'a> {
    bytes: &'a Bytes,
    lens: [usize; 5],
    next_len: usize,
    offset: usize,
    extra: u8,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a Bytes, kind: u8, header_bytes: usize) -> Result<Self, DecodeError> {
        let header = 1 + header_bytes;
        let truncated = |needed| DecodeError::Truncated { kind, needed, actual: bytes.len() };
        if bytes.len() < header {
            return Err(truncated(header));
        }
        // Kinds 3 and 4 end their header with the encoding byte, which is not a length.
        let has_encoding = matches!(kind, USER_BROADCAST_PUSH | USER_BROADCAST);
        let n_lens = if has_encoding { header_bytes - 1 } else { header_bytes };
        let mut lens = [0usize; 5];
        for (i, len) in lens.iter_mut().enumerate().take(n_lens) {
            *len = usize::from(bytes[1 + i]);
        }
        let extra = if has_encoding { bytes[header - 1] } else { 0 };
        let needed = header + lens.iter().sum::<usize>();
        if bytes.len() < needed {
            return Err(truncated(needed));
        }
        Ok(Reader { bytes, lens, next_len: 0, offset: header, extra })
    }

    fn field(&mut self) -> &'a [u8] {
        let len = self.lens[self.next_len];
        self.next_len += 1;
        let start = self.offset;
        self.offset += len;
        // In bounds: `new` checked that the frame holds every declared field.
        &self.bytes[start..self.offset]
    }

    fn string(&mut self, name: &'static str) -> Result<String, DecodeError> {
        std::str::from_utf8(self.field()).map(str::to_owned).map_err(|_| DecodeError::NotUtf8(name))
    }

    fn opt_string(&mut self, name: &'static str) -> Result<Option<String>, DecodeError> {
        self.string(name).map(|s| (!s.is_empty()).then_some(s))
    }

    fn user_broadcast(&mut self, encoding: PayloadEncoding) -> Result<UserBroadcast, DecodeError> {
        let topic = self.string("topic")?;
        let event = self.string("event")?;
        let meta = self.field();
        if std::str::from_utf8(meta).is_err() {
            return Err(DecodeError::NotUtf8("meta"));
        }
        let meta = self.bytes.slice_ref(meta);
        Ok(UserBroadcast { topic, event, meta, encoding, payload: self.rest() })
    }

    fn rest(&self) -> Bytes {
        self.bytes.slice(self.offset..)
    }
}

#[derive(Default)]
struct Writer {
    buf: BytesMut,
}

impl Writer {
    fn header(&mut self, kind: u8, fields: &[(&'static str, &str)], encoding: Option<u8>) -> Result<(), EncodeError> {
        let total: usize = fields.iter().map(|(_, f)| f.len()).sum();
        self.buf.reserve(2 + fields.len() + total);
        self.buf.put_u8(kind);
        for (name, f) in fields {
            let len = u8::try_from(f.len()).map_err(|_| EncodeError::FieldTooLong { field: name, len: f.len() })?;
            self.buf.put_u8(len);
        }
        if let Some(e) = encoding {
            self.buf.put_u8(e);
        }
        for (_, f) in fields {
            self.buf.put_slice(f.as_bytes());
        }
        Ok(())
    }

    fn payload(mut self, payload: &[u8]) -> Result<Bytes, EncodeError> {
        self.buf.put_slice(payload);
        Ok(self.buf.freeze())
    }
}
