//! The JSON-lines stream on stdout: one object per line, each with an `"event"` field, flushed at
//! once so a script reading the pipe sees each line as it happens.

use std::io::Write;

use serde_json::{Map, Value};

/// Prints `{"event": event, …fields}` as one line.
pub fn emit(event: &str, fields: Value) {
    let mut line = Map::new();
    line.insert("event".into(), Value::String(event.into()));
    if let Value::Object(fields) = fields {
        line.extend(fields);
    }
    let mut out = std::io::stdout().lock();
    // A closed stdout (the reader went away) must not kill a host that is serving a room.
    let _ = writeln!(out, "{}", Value::Object(line));
    let _ = out.flush();
}
