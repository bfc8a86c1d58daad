//! What the app holds between commands: its data dir, settings, and the session in a room (if any).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use tauri::AppHandle;
use tauri_specta::Event;
use tokio::sync::mpsc::UnboundedReceiver;
use whatssound_audio::{Clock, MonotonicClock, Volume};
use whatssound_core::CoreError;
use whatssound_member::player::OutputKind;
use whatssound_session::session::{Session, SessionConfig, SessionError, SessionEvent};
use whatssound_session::view::RoomView;

use crate::error::{AppError, ErrorKind};
use crate::events::{BufferingChanged, ConnectionChanged, ReactionReceived, RoomChanged, RoomEnded, SyncChanged};
use crate::settings::Settings;

pub struct AppState {
    pub data_dir: PathBuf,
    clock: Arc<dyn Clock>,
    volume: Volume,
    pub settings: Mutex<Settings>,
    pub session: tokio::sync::Mutex<Option<Session>>,
    /// Forces an output for every session (`WHATSSOUND_OUTPUT=null` in end-to-end tests).
    forced_output: Option<OutputKind>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("data_dir", &self.data_dir).field("settings", &self.settings()).finish()
    }
}

impl AppState {
    pub fn new(data_dir: PathBuf, forced_output: Option<OutputKind>) -> Self {
        let settings = Settings::load(&data_dir);
        let volume = Volume::new(settings.volume as f32);
        AppState {
            data_dir,
            clock: Arc::new(MonotonicClock::new()),
            volume,
            settings: Mutex::new(settings),
            session: tokio::sync::Mutex::new(None),
            forced_output,
        }
    }

    pub fn settings(&self) -> Settings {
        self.settings.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn set_settings(&self, settings: Settings) {
        self.volume.set(settings.volume as f32);
        *self.settings.lock().unwrap_or_else(PoisonError::into_inner) = settings;
    }

    pub fn session_config(&self, output: Option<OutputKind>) -> SessionConfig {
        let s = self.settings();
        SessionConfig {
            data_dir: self.data_dir.clone(),
            name: s.display_name,
            avatar: s.avatar,
            output,
            volume: self.volume.clone(),
            offset_ms: s.offset_ms.round() as i64,
            clock: self.clock.clone(),
        }
    }

    /// The output the settings ask for.
    pub fn output(&self) -> OutputKind {
        if let Some(forced) = &self.forced_output {
            return forced.clone();
        }
        match self.settings().output_device.as_deref() {
            Some("null") => OutputKind::Null,
            Some(name) => OutputKind::Device(Some(name.to_owned())),
            None => OutputKind::Device(None),
        }
    }

    /// Replaces the current session (leaving it) with the one `start` makes, forwarding its
    /// events to the UI. A sound device that cannot be opened does not keep anyone out of a room:
    /// the session starts again without sound, and the error says so.
    pub async fn enter<F, Fut>(&self, app: &AppHandle, start: F) -> Result<RoomView, AppError>
    where
        F: Fn(SessionConfig) -> Fut,
        Fut: std::future::Future<Output = Result<(Session, UnboundedReceiver<SessionEvent>), SessionError>>,
    {
        let mut slot = self.session.lock().await;
        if let Some(old) = slot.take() {
            let _ = old.leave().await;
        }
        let (session, events) = match start(self.session_config(Some(self.output()))).await {
            Ok(started) => started,
            Err(SessionError::Core(CoreError::Output(e))) => {
                tracing::warn!("no sound: {e}; joining without it");
                start(self.session_config(Some(OutputKind::Null))).await?
            }
            Err(e) => return Err(e.into()),
        };
        let view = session.view().await?;
        forward(app.clone(), events);
        *slot = Some(session);
        Ok(view)
    }
}

/// The session's events, as the UI's typed events.
fn forward(app: AppHandle, mut events: UnboundedReceiver<SessionEvent>) {
    tauri::async_runtime::spawn(async move {
        while let Some(event) = events.recv().await {
            let sent = match event {
                SessionEvent::Room(view) => RoomChanged(*view).emit(&app),
                SessionEvent::Connection(c) => ConnectionChanged(c).emit(&app),
                SessionEvent::Sync(s) => SyncChanged(s).emit(&app),
                SessionEvent::Buffering(b) => BufferingChanged(b).emit(&app),
                SessionEvent::Reaction(r) => ReactionReceived(r).emit(&app),
                SessionEvent::Ended { reason } => RoomEnded { reason }.emit(&app),
            };
            if let Err(e) = sent {
                tracing::warn!("could not send an event to the window: {e}");
            }
        }
    });
}

/// Runs `f` on the current session, or says there is none.
pub async fn with_session<T>(state: &AppState, f: impl AsyncFnOnce(&mut Session) -> Result<T, SessionError>) -> Result<T, AppError> {
    let mut slot = state.session.lock().await;
    let session = slot.as_mut().ok_or_else(AppError::not_in_room)?;
    f(session).await.map_err(AppError::from)
}

/// An error for a command given something it cannot use.
pub fn bad_input(message: impl Into<String>) -> AppError {
    AppError::new(ErrorKind::BadInput, message)
}
