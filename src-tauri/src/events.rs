//! The events the UI listens to: each wraps what the core reports, named for the UI.

use serde::{Deserialize, Serialize};
use specta::Type;
use tauri_specta::Event;
use whatssound_session::view::RoomView;
use whatssound_session::view::{BufferingView, ConnectionView, ReactionView, SyncView};

/// The whole room as this member sees it, after every change.
#[derive(Debug, Clone, Serialize, Deserialize, Type, Event)]
pub struct RoomChanged(pub RoomView);

#[derive(Debug, Clone, Serialize, Deserialize, Type, Event)]
pub struct ConnectionChanged(pub ConnectionView);

#[derive(Debug, Clone, Serialize, Deserialize, Type, Event)]
pub struct SyncChanged(pub SyncView);

#[derive(Debug, Clone, Serialize, Deserialize, Type, Event)]
pub struct BufferingChanged(pub BufferingView);

#[derive(Debug, Clone, Serialize, Deserialize, Type, Event)]
pub struct ReactionReceived(pub ReactionView);

/// The room is over for this member.
#[derive(Debug, Clone, Serialize, Deserialize, Type, Event)]
pub struct RoomEnded {
    pub reason: String,
}
