//! Server-side presence for one topic, as pure functions over a table.
//!
//! Phoenix.Presence semantics, which phoenix.js and realtime-js both merge on the client:
//! - Each tracked entry belongs to an *owner* (one subscription of one socket) and lives under a
//!   *key*; several owners may share a key (one user, two devices), so a key holds a list of metas.
//! - Every meta carries a unique `phx_ref`. Tracking again from the same owner is an update: the
//!   new meta (with `phx_ref_prev` naming the old ref) is a join and the old meta a leave, in the
//!   same diff — that is how clients tell an update from a second device.
//! - A late joiner gets the whole table as `presence_state` (`{key: {metas: [...]}}`); everyone
//!   else gets `presence_diff` (`{joins, leaves}`) in that same shape.
//!
//! Refs are passed in rather than made here, so the table stays deterministic under test.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// The presence entries of one topic.
#[derive(Debug, Clone)]
pub struct PresenceTable<O> {
    by_key: BTreeMap<String, Vec<Tracked<O>>>,
}

#[derive(Debug, Clone)]
struct Tracked<O> {
    owner: O,
    meta: Map<String, Value>,
}

impl<O> Default for PresenceTable<O> {
    fn default() -> Self {
        PresenceTable { by_key: BTreeMap::new() }
    }
}

/// What one change did, ready to send as a `presence_diff` payload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PresenceDiff {
    pub joins: BTreeMap<String, Vec<Map<String, Value>>>,
    pub leaves: BTreeMap<String, Vec<Map<String, Value>>>,
}

impl PresenceDiff {
    pub fn is_empty(&self) -> bool {
        self.joins.is_empty() && self.leaves.is_empty()
    }

    /// `{"joins": {key: {"metas": [...]}}, "leaves": {...}}`.
    pub fn to_json(&self) -> Value {
        json!({ "joins": metas_json(&self.joins), "leaves": metas_json(&self.leaves) })
    }

    /// Folds `other` into this diff, as Phoenix batches diffs: a meta that joined here and leaves in
    /// `other` cancels out instead of being announced twice.
    pub fn merge(&mut self, other: PresenceDiff) {
        for (key, metas) in other.leaves {
            let joined = self.joins.entry(key.clone()).or_default();
            let mut still_leaving = Vec::new();
            for meta in metas {
                match joined.iter().position(|j| j.get("phx_ref") == meta.get("phx_ref")) {
                    Some(i) => {
                        joined.remove(i);
                    }
                    None => still_leaving.push(meta),
                }
            }
            if joined.is_empty() {
                self.joins.remove(&key);
            }
            if !still_leaving.is_empty() {
                self.leaves.entry(key).or_default().extend(still_leaving);
            }
        }
        for (key, metas) in other.joins {
            self.joins.entry(key).or_default().extend(metas);
        }
    }
}

fn metas_json(side: &BTreeMap<String, Vec<Map<String, Value>>>) -> Value {
    Value::Object(side.iter().map(|(k, metas)| (k.clone(), json!({ "metas": metas }))).collect())
}

impl<O: PartialEq + Clone> PresenceTable<O> {
    /// Tracks `meta` for `owner` under `key` with the fresh ref `phx_ref`; tracking again from the
    /// same owner is an update.
    pub fn track(&mut self, owner: O, key: &str, mut meta: Map<String, Value>, phx_ref: String) -> PresenceDiff {
        meta.remove("phx_ref_prev");
        let mut diff = PresenceDiff::default();
        let previous = self.remove_owner(&owner);
        if let Some((old_key, old)) = previous {
            if let Some(prev_ref) = old.meta.get("phx_ref").filter(|_| old_key == key) {
                meta.insert("phx_ref_prev".into(), prev_ref.clone());
            }
            diff.leaves.entry(old_key).or_default().push(old.meta);
        }
        meta.insert("phx_ref".into(), Value::String(phx_ref));
        diff.joins.entry(key.to_owned()).or_default().push(meta.clone());
        self.by_key.entry(key.to_owned()).or_default().push(Tracked { owner, meta });
        diff
    }

    /// Removes whatever `owner` tracked (on untrack, leave or socket close).
    pub fn untrack(&mut self, owner: &O) -> PresenceDiff {
        let mut diff = PresenceDiff::default();
        if let Some((key, old)) = self.remove_owner(owner) {
            diff.leaves.entry(key).or_default().push(old.meta);
        }
        diff
    }

    /// The whole table as a `presence_state` payload.
    pub fn state(&self) -> Value {
        Value::Object(
            self.by_key
                .iter()
                .map(|(k, entries)| (k.clone(), json!({ "metas": entries.iter().map(|e| &e.meta).collect::<Vec<_>>() })))
                .collect(),
        )
    }

    /// Whether `owner` has something tracked.
    pub fn is_tracked(&self, owner: &O) -> bool {
        self.by_key.values().any(|v| v.iter().any(|e| &e.owner == owner))
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    fn remove_owner(&mut self, owner: &O) -> Option<(String, Tracked<O>)> {
        let (key, index) = self.by_key.iter().find_map(|(k, v)| v.iter().position(|e| &e.owner == owner).map(|i| (k.clone(), i)))?;
        let entries = self.by_key.get_mut(&key)?;
        let removed = entries.remove(index);
        if entries.is_empty() {
            self.by_key.remove(&key);
        }
        Some((key, removed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn track_update_untrack_produce_phoenix_diffs() {
        let mut t = PresenceTable::default();
        let d = t.track(1, "alice", meta(json!({"status":"online"})), "r1".into());
        assert_eq!(d.to_json(), json!({"joins":{"alice":{"metas":[{"status":"online","phx_ref":"r1"}]}},"leaves":{}}));

        // Same owner again: an update — join with phx_ref_prev plus leave of the old meta.
        let d = t.track(1, "alice", meta(json!({"status":"away"})), "r2".into());
        assert_eq!(
            d.to_json(),
            json!({"joins":{"alice":{"metas":[{"status":"away","phx_ref_prev":"r1","phx_ref":"r2"}]}},
                   "leaves":{"alice":{"metas":[{"status":"online","phx_ref":"r1"}]}}})
        );

        // A second device under the same key is a second meta.
        t.track(2, "alice", meta(json!({"status":"online"})), "r3".into());
        assert_eq!(t.state()["alice"]["metas"].as_array().map(Vec::len), Some(2));

        let d = t.untrack(&1);
        assert_eq!(d.leaves["alice"][0]["phx_ref"], json!("r2"));
        assert!(t.untrack(&1).is_empty(), "untracking twice changes nothing");
        t.untrack(&2);
        assert!(t.is_empty());
        assert_eq!(t.state(), json!({}));
    }

    #[test]
    fn merging_a_join_with_its_leave_cancels_out() {
        let mut t = PresenceTable::default();
        let mut batch = t.track(1, "k", Map::new(), "a".into());
        batch.merge(t.track(2, "k", Map::new(), "b".into()));
        batch.merge(t.untrack(&1));
        assert_eq!(batch.to_json(), json!({"joins":{"k":{"metas":[{"phx_ref":"b"}]}},"leaves":{}}));
    }
}

/// A client's view of a topic's presence, merged from `presence_state` and `presence_diff` the way
/// phoenix.js's `Presence.syncState` / `syncDiff` do (metas matched by `phx_ref`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PresenceView {
    pub by_key: BTreeMap<String, Vec<Map<String, Value>>>,
}

impl PresenceView {
    /// Replaces the view with a `presence_state`; returns what joined and left compared to before.
    pub fn sync_state(&mut self, state: &Value) -> PresenceDiff {
        let new = parse_side(state);
        let mut diff = PresenceDiff::default();
        for (key, metas) in &self.by_key {
            let kept: Vec<_> = new.get(key).map(|m| refs(m)).unwrap_or_default();
            let left: Vec<_> = metas.iter().filter(|m| !kept.contains(&m.get("phx_ref"))).cloned().collect();
            if !left.is_empty() {
                diff.leaves.insert(key.clone(), left);
            }
        }
        for (key, metas) in &new {
            let had: Vec<_> = self.by_key.get(key).map(|m| refs(m)).unwrap_or_default();
            let joined: Vec<_> = metas.iter().filter(|m| !had.contains(&m.get("phx_ref"))).cloned().collect();
            if !joined.is_empty() {
                diff.joins.insert(key.clone(), joined);
            }
        }
        self.by_key = new;
        diff
    }

    /// Applies a `presence_diff`; returns it as parsed.
    pub fn sync_diff(&mut self, diff_json: &Value) -> PresenceDiff {
        let diff = PresenceDiff { joins: parse_side(&diff_json["joins"]), leaves: parse_side(&diff_json["leaves"]) };
        for (key, metas) in &diff.joins {
            let entry = self.by_key.entry(key.clone()).or_default();
            let new_refs = refs(metas);
            entry.retain(|m| !new_refs.contains(&m.get("phx_ref")));
            entry.extend(metas.iter().cloned());
        }
        for (key, metas) in &diff.leaves {
            if let Some(entry) = self.by_key.get_mut(key) {
                let gone = refs(metas);
                entry.retain(|m| !gone.contains(&m.get("phx_ref")));
                if entry.is_empty() {
                    self.by_key.remove(key);
                }
            }
        }
        diff
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.by_key.keys().map(String::as_str)
    }
}

fn refs(metas: &[Map<String, Value>]) -> Vec<Option<&Value>> {
    metas.iter().map(|m| m.get("phx_ref")).collect()
}

fn parse_side(v: &Value) -> BTreeMap<String, Vec<Map<String, Value>>> {
    let Some(obj) = v.as_object() else { return BTreeMap::new() };
    obj.iter()
        .filter_map(|(k, entry)| {
            let metas: Vec<_> = entry.get("metas")?.as_array()?.iter().filter_map(|m| m.as_object().cloned()).collect();
            (!metas.is_empty()).then(|| (k.clone(), metas))
        })
        .collect()
}

#[cfg(test)]
mod view_tests {
    use super::*;

    #[test]
    fn a_view_follows_the_server_table() {
        let mut server = PresenceTable::default();
        let mut view = PresenceView::default();
        server.track(1, "ann", Map::new(), "a1".into());
        let joined = view.sync_state(&server.state());
        assert_eq!(joined.joins.keys().collect::<Vec<_>>(), ["ann"]);
        for diff in [
            server.track(2, "bob", Map::new(), "b1".into()),
            server.track(1, "ann", json!({"mood": "x"}).as_object().cloned().unwrap_or_default(), "a2".into()),
            server.untrack(&2),
        ] {
            view.sync_diff(&diff.to_json());
        }
        let expected: BTreeMap<_, _> =
            server.state().as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).into_iter().flatten().map(|k| (k, ())).collect();
        assert_eq!(view.keys().map(str::to_owned).collect::<Vec<_>>(), expected.keys().cloned().collect::<Vec<_>>());
        assert_eq!(view.by_key["ann"].len(), 1, "the update replaced the old meta");
        assert_eq!(view.by_key["ann"][0]["mood"], "x");
        // A fresh state after a reconnect reports who left meanwhile.
        let diff = view.sync_state(&json!({}));
        assert_eq!(diff.leaves.keys().collect::<Vec<_>>(), ["ann"]);
    }
}
