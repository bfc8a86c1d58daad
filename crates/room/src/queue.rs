//! The play queue as a stream: an ordered map (`id → track`, plus order) that changes only by
//! [`QueueDiff`]s — insert at an index, delete, reorder, update — so only the change ever travels.
//!
//! [`Queue::apply`] refuses a diff that does not fit (an id that is missing or already there, an
//! index out of range, a reorder whose `from` is stale). The authority never produces such a diff;
//! a replica that meets one knows its copy is wrong and asks for a snapshot.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::ids::{TrackId, UserId};

/// Where a track's audio comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TrackSource {
    /// A file on the host's machine. Only its name travels; the path stays with the host, and the
    /// audio is served by track id.
    HostFile { file_name: String },
    /// Any http(s) URL.
    Url { url: String },
    /// A listener's own file, uploaded to the host (which keeps it by this id, and serves its
    /// audio by track id like a host file).
    Upload { id: String },
}

impl TrackSource {
    /// Whether an upload id is well formed: what the host hands out, and nothing that could name
    /// a path.
    pub fn is_valid_upload_id(id: &str) -> bool {
        (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
    }
}

/// What a track is: its description and where its audio comes from. A listener's enqueue carries
/// one; the queue's [`Track`] is one plus what the room adds.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackMeta {
    pub title: String,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub duration_ms: Option<u64>,
    pub source: TrackSource,
    /// The BLAKE3 hash of the track's bytes (64 hex digits), once the host has hashed them:
    /// members pass the track on to each other by this name, each piece checked against it.
    /// Only the host names it (a listener's enqueue loses any it carries).
    pub hash: Option<String>,
}

/// One track in the queue (on the wire: `{id, title, artist?, album?, duration_ms?, source,
/// added_by, unplayable?}`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Track {
    pub id: TrackId,
    #[serde(flatten)]
    pub meta: TrackMeta,
    pub added_by: UserId,
    /// Why the track cannot be played (corrupt, unsupported), once someone found out.
    pub unplayable: Option<String>,
}

/// A partial change to a track: only the fields that are `Some` change.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackPatch {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub duration_ms: Option<u64>,
    pub unplayable: Option<String>,
    pub hash: Option<String>,
}

/// One change to the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum QueueDiff {
    /// Insert at `at` (0 = prepend, `len` = append).
    Insert {
        at: usize,
        track: Track,
    },
    Delete {
        id: TrackId,
    },
    /// Move the track at `from` to `to` (indices after removal, as `Vec::remove` + `insert`).
    Reorder {
        id: TrackId,
        from: usize,
        to: usize,
    },
    Update {
        id: TrackId,
        patch: TrackPatch,
    },
}

/// A diff that does not fit this queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("track {0} is already in the queue")]
    Duplicate(TrackId),
    #[error("track {0} is not in the queue")]
    Missing(TrackId),
    #[error("index {index} is out of range for a queue of {len}")]
    OutOfRange { index: usize, len: usize },
    #[error("track {id} is not at index {from}")]
    Stale { id: TrackId, from: usize },
}

/// The ordered map. On the wire (and on disk) it is simply the tracks in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Track>", into = "Vec<Track>")]
pub struct Queue {
    order: Vec<TrackId>,
    tracks: HashMap<TrackId, Track>,
}

impl TryFrom<Vec<Track>> for Queue {
    type Error = QueueError;
    fn try_from(tracks: Vec<Track>) -> Result<Self, QueueError> {
        let mut q = Queue::default();
        for track in tracks {
            q.apply(&QueueDiff::Insert { at: q.len(), track })?;
        }
        Ok(q)
    }
}

impl From<Queue> for Vec<Track> {
    fn from(mut q: Queue) -> Self {
        q.order.iter().filter_map(|id| q.tracks.remove(id)).collect()
    }
}

impl Queue {
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn get(&self, id: &TrackId) -> Option<&Track> {
        self.tracks.get(id)
    }

    pub fn position(&self, id: &TrackId) -> Option<usize> {
        self.order.iter().position(|t| t == id)
    }

    /// The tracks in order.
    pub fn iter(&self) -> impl Iterator<Item = &Track> {
        self.order.iter().filter_map(|id| self.tracks.get(id))
    }

    pub fn first(&self) -> Option<&Track> {
        self.order.first().and_then(|id| self.tracks.get(id))
    }

    /// Applies one diff, or changes nothing and says why it does not fit.
    pub fn apply(&mut self, diff: &QueueDiff) -> Result<(), QueueError> {
        match diff {
            QueueDiff::Insert { at, track } => {
                if self.tracks.contains_key(&track.id) {
                    return Err(QueueError::Duplicate(track.id.clone()));
                }
                if *at > self.order.len() {
                    return Err(QueueError::OutOfRange { index: *at, len: self.order.len() });
                }
                self.order.insert(*at, track.id.clone());
                self.tracks.insert(track.id.clone(), track.clone());
            }
            QueueDiff::Delete { id } => {
                let index = self.position(id).ok_or_else(|| QueueError::Missing(id.clone()))?;
                self.order.remove(index);
                self.tracks.remove(id);
            }
            QueueDiff::Reorder { id, from, to } => {
                if self.order.get(*from) != Some(id) {
                    return Err(if self.tracks.contains_key(id) {
                        QueueError::Stale { id: id.clone(), from: *from }
                    } else {
                        QueueError::Missing(id.clone())
                    });
                }
                if *to >= self.order.len() {
                    return Err(QueueError::OutOfRange { index: *to, len: self.order.len() });
                }
                let moved = self.order.remove(*from);
                self.order.insert(*to, moved);
            }
            QueueDiff::Update { id, patch } => {
                let track = self.tracks.get_mut(id).ok_or_else(|| QueueError::Missing(id.clone()))?;
                let TrackPatch { title, artist, album, duration_ms, unplayable, hash } = patch.clone();
                let meta = &mut track.meta;
                if let Some(v) = title {
                    meta.title = v;
                }
                if artist.is_some() {
                    meta.artist = artist;
                }
                if album.is_some() {
                    meta.album = album;
                }
                if duration_ms.is_some() {
                    meta.duration_ms = duration_ms;
                }
                if hash.is_some() {
                    meta.hash = hash;
                }
                if unplayable.is_some() {
                    track.unplayable = unplayable;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) fn track(id: &str) -> Track {
    Track {
        id: id.into(),
        meta: TrackMeta {
            title: format!("Song {id}"),
            artist: None,
            album: None,
            duration_ms: Some(180_000),
            hash: None,
            source: TrackSource::Url { url: format!("https://example.org/{id}.ogg") },
        },
        added_by: "u".into(),
        unplayable: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(q: &Queue) -> Vec<&str> {
        q.iter().map(|t| t.id.as_str()).collect()
    }

    #[test]
    fn absent_options_are_left_out_on_the_wire_and_read_back_as_none() {
        let t = track("a");
        let wire = serde_json::to_value(&t).unwrap();
        let keys: Vec<&str> = wire.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["id", "title", "duration_ms", "source", "added_by"], "{wire}");
        assert_eq!(serde_json::from_value::<Track>(wire).unwrap(), t);
        let patch: TrackPatch = serde_json::from_str(r#"{"unplayable":"gone"}"#).unwrap();
        assert_eq!(patch, TrackPatch { unplayable: Some("gone".into()), ..TrackPatch::default() });
        assert_eq!(serde_json::to_string(&patch).unwrap(), r#"{"unplayable":"gone"}"#);
    }

    #[test]
    fn insert_append_prepend_reorder_update_delete() {
        let mut q = Queue::default();
        q.apply(&QueueDiff::Insert { at: 0, track: track("a") }).unwrap();
        q.apply(&QueueDiff::Insert { at: 1, track: track("b") }).unwrap();
        q.apply(&QueueDiff::Insert { at: 0, track: track("c") }).unwrap();
        q.apply(&QueueDiff::Insert { at: 1, track: track("d") }).unwrap();
        assert_eq!(ids(&q), ["c", "d", "a", "b"]);
        q.apply(&QueueDiff::Reorder { id: "c".into(), from: 0, to: 3 }).unwrap();
        assert_eq!(ids(&q), ["d", "a", "b", "c"]);
        q.apply(&QueueDiff::Update { id: "a".into(), patch: TrackPatch { title: Some("New".into()), ..TrackPatch::default() } }).unwrap();
        assert_eq!(q.get(&"a".into()).unwrap().meta.title, "New");
        assert_eq!(q.get(&"a".into()).unwrap().meta.duration_ms, Some(180_000), "unpatched fields stay");
        q.apply(&QueueDiff::Delete { id: "d".into() }).unwrap();
        assert_eq!(ids(&q), ["a", "b", "c"]);
    }

    #[test]
    fn diffs_that_do_not_fit_change_nothing() {
        let mut q = Queue::default();
        q.apply(&QueueDiff::Insert { at: 0, track: track("a") }).unwrap();
        let before = q.clone();
        let bad = [
            (QueueDiff::Insert { at: 0, track: track("a") }, QueueError::Duplicate("a".into())),
            (QueueDiff::Insert { at: 5, track: track("b") }, QueueError::OutOfRange { index: 5, len: 1 }),
            (QueueDiff::Delete { id: "x".into() }, QueueError::Missing("x".into())),
            (QueueDiff::Reorder { id: "a".into(), from: 1, to: 0 }, QueueError::Stale { id: "a".into(), from: 1 }),
            (QueueDiff::Reorder { id: "a".into(), from: 0, to: 1 }, QueueError::OutOfRange { index: 1, len: 1 }),
            (QueueDiff::Update { id: "x".into(), patch: TrackPatch::default() }, QueueError::Missing("x".into())),
        ];
        for (diff, err) in bad {
            assert_eq!(q.apply(&diff), Err(err));
            assert_eq!(q, before);
        }
    }

    #[test]
    fn diffs_travel_as_tagged_json() {
        let d = QueueDiff::Reorder { id: "t1".into(), from: 2, to: 0 };
        assert_eq!(serde_json::to_value(&d).unwrap(), serde_json::json!({"op":"reorder","id":"t1","from":2,"to":0}));
        let back: QueueDiff = serde_json::from_value(serde_json::to_value(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }
}
