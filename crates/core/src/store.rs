//! What survives a crash, in SQLite: the host's room and a listener's outbox.
//!
//! The host writes each accepted intent in one transaction — the engine's state, the intent's key
//! (for idempotency), new chat messages (the full history; the state keeps only the recent ones)
//! and the paths of new host files — *before* publishing the diffs. A host killed at any moment
//! therefore restarts with every diff it ever published, and none it did not.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use whatssound_room::{ChatMessage, Engine, IntentId, TrackId};

/// Why the store failed; every message says which file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {error}")]
    Sqlite { path: PathBuf, error: rusqlite::Error },
    #[error("{path}: the saved room is corrupt ({error}); move the file away to start a new room")]
    Corrupt { path: PathBuf, error: String },
    #[error("could not create {path}: {error}")]
    Dir { path: PathBuf, error: std::io::Error },
}

fn sqlite(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |error| StoreError::Sqlite { path: path.to_owned(), error }
}

/// SQLite integers are signed; seqs and clocks never come near 2^63.
fn to_sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn from_sql(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn open(path: &Path, schema: &str) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|error| StoreError::Dir { path: dir.to_owned(), error })?;
    }
    let conn = Connection::open(path).map_err(sqlite(path))?;
    // WAL: a crash mid-write leaves the last committed transaction intact; NORMAL sync is durable
    // across process crashes (the case that matters for a host killed with SIGKILL).
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 2000;").map_err(sqlite(path))?;
    conn.execute_batch(schema).map_err(sqlite(path))?;
    Ok(conn)
}

const HOST_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS engine (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL, seq INTEGER NOT NULL, saved_now_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS applied (n INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS chat (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (track TEXT PRIMARY KEY, path TEXT NOT NULL);
";

/// The host's room database (`room.db` in the data dir).
#[derive(Debug)]
pub struct HostStore {
    path: PathBuf,
    conn: Connection,
}

/// What one accepted intent (or host event) changed, to be saved together.
#[derive(Debug, Default)]
pub struct Commit<'a> {
    pub applied: Option<(String, u64)>,
    pub chat: Vec<(&'a ChatMessage, u64)>,
    pub files: Vec<(TrackId, PathBuf)>,
}

impl HostStore {
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("room.db");
        let conn = open(&path, HOST_SCHEMA)?;
        Ok(HostStore { path, conn })
    }

    /// The saved engine with its remembered intents, and the host clock when it was saved.
    pub fn load(&self) -> Result<Option<(Engine, u64)>, StoreError> {
        let row: Option<(String, i64)> = self
            .conn
            .query_row("SELECT json, saved_now_ms FROM engine WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(sqlite(&self.path))?;
        let Some((json, saved_now_ms)) = row else { return Ok(None) };
        let saved_now_ms = from_sql(saved_now_ms);
        let mut engine: Engine =
            serde_json::from_str(&json).map_err(|e| StoreError::Corrupt { path: self.path.clone(), error: e.to_string() })?;
        let mut stmt = self.conn.prepare("SELECT key, seq FROM applied ORDER BY n").map_err(sqlite(&self.path))?;
        let applied =
            stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1).map(from_sql)?))).map_err(sqlite(&self.path))?;
        let applied: Result<Vec<_>, _> = applied.collect();
        engine.restore_applied(applied.map_err(sqlite(&self.path))?);
        Ok(Some((engine, saved_now_ms)))
    }

    /// Saves the engine and what changed with it, all or nothing.
    pub fn commit(&mut self, engine: &Engine, now_ms: u64, commit: &Commit<'_>) -> Result<(), StoreError> {
        let path = self.path.clone();
        let json = serde_json::to_string(engine).map_err(|e| StoreError::Corrupt { path: path.clone(), error: e.to_string() })?;
        let tx = self.conn.transaction().map_err(sqlite(&path))?;
        tx.execute(
            "INSERT INTO engine (id, json, seq, saved_now_ms) VALUES (1, ?1, ?2, ?3)
             ON CONFLICT(id) DO UPDATE SET json = excluded.json, seq = excluded.seq, saved_now_ms = excluded.saved_now_ms",
            params![json, to_sql(engine.state().seq), to_sql(now_ms)],
        )
        .map_err(sqlite(&path))?;
        if let Some((key, seq)) = &commit.applied {
            tx.execute("INSERT OR IGNORE INTO applied (key, seq) VALUES (?1, ?2)", params![key, to_sql(*seq)]).map_err(sqlite(&path))?;
        }
        for (message, seq) in &commit.chat {
            let json = serde_json::to_string(message).unwrap_or_default();
            tx.execute("INSERT OR IGNORE INTO chat (id, seq, json) VALUES (?1, ?2, ?3)", params![message.id, to_sql(*seq), json])
                .map_err(sqlite(&path))?;
        }
        for (track, file) in &commit.files {
            tx.execute("INSERT OR REPLACE INTO files (track, path) VALUES (?1, ?2)", params![track.as_str(), file.to_string_lossy()])
                .map_err(sqlite(&path))?;
        }
        tx.commit().map_err(sqlite(&path))
    }

    /// The path of a host file by track id (never a path from a request).
    pub fn file(&self, track: &TrackId) -> Result<Option<PathBuf>, StoreError> {
        self.conn
            .query_row("SELECT path FROM files WHERE track = ?1", params![track.as_str()], |r| r.get::<_, String>(0))
            .optional()
            .map(|p| p.map(PathBuf::from))
            .map_err(sqlite(&self.path))
    }

    /// The last `limit` chat messages, oldest first.
    pub fn chat_history(&self, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT json FROM chat ORDER BY seq DESC LIMIT ?1").map_err(sqlite(&self.path))?;
        let rows =
            stmt.query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |r| r.get::<_, String>(0)).map_err(sqlite(&self.path))?;
        let mut out: Vec<ChatMessage> = rows.filter_map(Result::ok).filter_map(|j| serde_json::from_str(&j).ok()).collect();
        out.reverse();
        Ok(out)
    }
}

const OUTBOX_SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS outbox (n INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, envelope TEXT NOT NULL, room TEXT);";

/// A listener's unconfirmed intents (`outbox.db` in its data dir): kept until the room confirms or
/// refuses them, so a crash while offline loses nothing. Each belongs to the room it was made in:
/// one data dir serves every room its user joins (a `send` without `--data-dir` always uses the
/// same one), and an intent still pending for one room must never be sent to another.
#[derive(Debug)]
pub struct OutboxStore {
    path: PathBuf,
    conn: Connection,
    room: String,
}

impl OutboxStore {
    /// The outbox of `room` in `dir`. Intents an older version kept with no room are adopted by
    /// the first room that opens the file (as that version would have sent them).
    pub fn open(dir: &Path, room: &str) -> Result<Self, StoreError> {
        let path = dir.join("outbox.db");
        let conn = open(&path, OUTBOX_SCHEMA)?;
        let has_room: bool = conn
            .query_row("SELECT COUNT(*) FROM pragma_table_info('outbox') WHERE name = 'room'", [], |r| r.get::<_, i64>(0))
            .map(|n| n > 0)
            .map_err(sqlite(&path))?;
        if !has_room {
            conn.execute_batch("ALTER TABLE outbox ADD COLUMN room TEXT").map_err(sqlite(&path))?;
        }
        conn.execute("UPDATE outbox SET room = ?1 WHERE room IS NULL", params![room]).map_err(sqlite(&path))?;
        Ok(OutboxStore { path, conn, room: room.to_owned() })
    }

    pub fn push(&self, id: &IntentId, envelope: &serde_json::Value) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO outbox (id, envelope, room) VALUES (?1, ?2, ?3)",
                params![id.as_str(), envelope.to_string(), self.room],
            )
            .map(|_| ())
            .map_err(sqlite(&self.path))
    }

    pub fn remove(&self, id: &IntentId) -> Result<bool, StoreError> {
        self.conn
            .execute("DELETE FROM outbox WHERE id = ?1 AND room = ?2", params![id.as_str(), self.room])
            .map(|n| n > 0)
            .map_err(sqlite(&self.path))
    }

    /// The oldest pending intent.
    pub fn first(&self) -> Result<Option<(IntentId, serde_json::Value)>, StoreError> {
        let row: Option<(String, String)> = self
            .conn
            .query_row("SELECT id, envelope FROM outbox WHERE room = ?1 ORDER BY n LIMIT 1", params![self.room], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(sqlite(&self.path))?;
        Ok(row.and_then(|(id, env)| serde_json::from_str(&env).ok().map(|v| (IntentId(id), v))))
    }

    /// Pending intents in the order they were made.
    pub fn pending(&self) -> Result<Vec<(IntentId, serde_json::Value)>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT id, envelope FROM outbox WHERE room = ?1 ORDER BY n").map_err(sqlite(&self.path))?;
        let rows =
            stmt.query_map(params![self.room], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).map_err(sqlite(&self.path))?;
        Ok(rows.filter_map(Result::ok).filter_map(|(id, env)| serde_json::from_str(&env).ok().map(|v| (IntentId(id), v))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use whatssound_room::{Action, Intent, Output, Position, RoomSettings, TrackMeta, TrackSource, UserId};

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("whatssound-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_engine_and_its_memory_survive_a_reopen() {
        let dir = temp("host");
        let host: UserId = "H".into();
        let mut engine = Engine::new(host.clone(), RoomSettings::default());
        let track = TrackMeta {
            title: "a".into(),
            artist: None,
            album: None,
            duration_ms: None,
            source: TrackSource::HostFile { file_name: "a.flac".into() },
            hash: None,
        };
        let out = engine.handle(
            &host,
            Intent { id: "i1".into(), name: "h".into(), action: Action::Enqueue { track, position: Position::Append } },
            5,
        );
        assert!(matches!(out[0], Output::Diff(_)));
        let key = Engine::intent_key(&host, &"i1".into());
        {
            let mut store = HostStore::open(&dir).unwrap();
            let commit = Commit { applied: Some((key.clone(), 2)), chat: vec![], files: vec![("t1".into(), "/music/a.flac".into())] };
            store.commit(&engine, 5, &commit).unwrap();
        }
        let store = HostStore::open(&dir).unwrap();
        let (loaded, saved_now) = store.load().unwrap().unwrap();
        assert_eq!((loaded.state(), saved_now), (engine.state(), 5));
        assert_eq!(loaded.applied(&key), Some(2));
        assert_eq!(store.file(&"t1".into()).unwrap(), Some(PathBuf::from("/music/a.flac")));
        assert_eq!(store.file(&"t9".into()).unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupt_engine_row_is_reported_not_replaced() {
        let dir = temp("corrupt");
        let store = HostStore::open(&dir).unwrap();
        store.conn.execute("INSERT INTO engine (id, json, seq, saved_now_ms) VALUES (1, '{broken', 0, 0)", []).unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(err.contains("room.db") && err.contains("corrupt"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_outbox_keeps_order_and_forgets_confirmed() {
        let dir = temp("outbox");
        let outbox = OutboxStore::open(&dir, "R").unwrap();
        outbox.push(&"a".into(), &serde_json::json!({"n": 1})).unwrap();
        outbox.push(&"b".into(), &serde_json::json!({"n": 2})).unwrap();
        outbox.push(&"a".into(), &serde_json::json!({"n": 3})).unwrap();
        drop(outbox);
        let outbox = OutboxStore::open(&dir, "R").unwrap();
        let pending: Vec<_> = outbox.pending().unwrap().into_iter().map(|(id, _)| id.0).collect();
        assert_eq!(pending, ["a", "b"]);
        assert!(outbox.remove(&"a".into()).unwrap());
        assert!(!outbox.remove(&"a".into()).unwrap());
        assert_eq!(outbox.pending().unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_intent_pending_for_one_room_is_never_another_rooms() {
        let dir = temp("outbox-rooms");
        // An outbox from before rooms were kept: its one pending intent has no room.
        let old = Connection::open(dir.join("outbox.db")).unwrap();
        old.execute_batch("CREATE TABLE outbox (n INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, envelope TEXT NOT NULL);")
            .unwrap();
        old.execute("INSERT INTO outbox (id, envelope) VALUES ('old', '{}')", []).unwrap();
        drop(old);
        let a = OutboxStore::open(&dir, "A").unwrap();
        a.push(&"for-a".into(), &serde_json::json!({})).unwrap();
        let b = OutboxStore::open(&dir, "B").unwrap();
        b.push(&"for-b".into(), &serde_json::json!({})).unwrap();
        let ids = |o: &OutboxStore| o.pending().unwrap().into_iter().map(|(id, _)| id.0).collect::<Vec<_>>();
        assert_eq!(ids(&a), ["old", "for-a"], "the first room to open it adopts what had no room");
        assert_eq!(ids(&b), ["for-b"]);
        assert_eq!(b.first().unwrap().map(|(id, _)| id.0).as_deref(), Some("for-b"));
        assert!(!b.remove(&"for-a".into()).unwrap(), "one room cannot drop another's intent");
        assert_eq!(ids(&a), ["old", "for-a"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
