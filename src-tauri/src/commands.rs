//! The commands the UI calls: each maps its arguments to the core and the answer back, nothing more.

use std::path::PathBuf;

use tauri::{AppHandle, State};
use whatssound_room::Action;
use whatssound_session::session::Session;
use whatssound_session::view::RoomView;

use crate::error::AppError;
use crate::settings::Settings;
use crate::state::{AppState, bad_input, with_session};

type Answer<T> = Result<T, AppError>;

/// Hosts a room on this machine (or on the relay the settings name) with `files` queued.
#[tauri::command]
#[specta::specta]
pub async fn host_room(app: AppHandle, state: State<'_, AppState>, name: String, files: Vec<String>) -> Answer<RoomView> {
    if name.trim().is_empty() {
        return Err(bad_input("give the room a name"));
    }
    let files: Vec<PathBuf> = files.into_iter().map(PathBuf::from).collect();
    let venue = state.settings().venue()?;
    state.enter(&app, |config| Session::host(config, &name, &files, venue.clone())).await
}

/// Joins a room by invite.
#[tauri::command]
#[specta::specta]
pub async fn join_room(app: AppHandle, state: State<'_, AppState>, invite: String) -> Answer<RoomView> {
    state.enter(&app, |config| Session::join(config, &invite)).await
}

#[tauri::command]
#[specta::specta]
pub async fn leave_room(state: State<'_, AppState>) -> Answer<()> {
    if let Some(session) = state.session.lock().await.take() {
        session.leave().await?;
    }
    Ok(())
}

/// A new listener invite; the old one stops working.
#[tauri::command]
#[specta::specta]
pub async fn new_invite(state: State<'_, AppState>) -> Answer<String> {
    with_session(&state, async |s| s.new_invite()).await
}

#[tauri::command]
#[specta::specta]
pub async fn current_room(state: State<'_, AppState>) -> Answer<Option<RoomView>> {
    match state.session.lock().await.as_ref() {
        Some(session) => Ok(Some(session.view().await?)),
        None => Ok(None),
    }
}

#[tauri::command]
#[specta::specta]
pub async fn add_tracks(state: State<'_, AppState>, paths: Vec<String>) -> Answer<()> {
    let paths: Vec<PathBuf> = paths.into_iter().map(PathBuf::from).collect();
    with_session(&state, async |s| s.add_files(&paths).await).await
}

async fn act(state: &AppState, action: Action) -> Answer<()> {
    with_session(state, async |s| s.act(action).await).await
}

#[tauri::command]
#[specta::specta]
pub async fn remove_track(state: State<'_, AppState>, track_id: String) -> Answer<()> {
    act(&state, Action::Remove { track: track_id.into() }).await
}

#[tauri::command]
#[specta::specta]
pub async fn move_track(state: State<'_, AppState>, track_id: String, to: u32) -> Answer<()> {
    act(&state, Action::Move { track: track_id.into(), to: to as usize }).await
}

#[tauri::command]
#[specta::specta]
pub async fn vote(state: State<'_, AppState>, track_id: String, up: bool) -> Answer<()> {
    act(&state, Action::Vote { track: track_id.into(), up }).await
}

#[tauri::command]
#[specta::specta]
pub async fn play(state: State<'_, AppState>) -> Answer<()> {
    act(&state, Action::Play).await
}

#[tauri::command]
#[specta::specta]
pub async fn pause(state: State<'_, AppState>) -> Answer<()> {
    act(&state, Action::Pause).await
}

#[tauri::command]
#[specta::specta]
pub async fn seek(state: State<'_, AppState>, position_ms: u32) -> Answer<()> {
    act(&state, Action::Seek { ms: u64::from(position_ms) }).await
}

#[tauri::command]
#[specta::specta]
pub async fn skip(state: State<'_, AppState>) -> Answer<()> {
    act(&state, Action::Skip).await
}

#[tauri::command]
#[specta::specta]
pub async fn send_chat(state: State<'_, AppState>, text: String) -> Answer<()> {
    act(&state, Action::Chat { text }).await
}

#[tauri::command]
#[specta::specta]
pub async fn react(state: State<'_, AppState>, emoji: String) -> Answer<()> {
    act(&state, Action::React { emoji }).await
}

#[tauri::command]
#[specta::specta]
pub async fn set_typing(state: State<'_, AppState>, typing: bool) -> Answer<()> {
    with_session(&state, async |s| {
        s.set_typing(typing);
        Ok(())
    })
    .await
}

#[tauri::command]
#[specta::specta]
pub async fn get_settings(state: State<'_, AppState>) -> Answer<Settings> {
    Ok(state.settings())
}

/// Saves settings; volume applies at once, the rest from the next room.
#[tauri::command]
#[specta::specta]
pub async fn save_settings(state: State<'_, AppState>, settings: Settings) -> Answer<Settings> {
    let saved = settings.save(&state.data_dir)?;
    state.set_settings(saved.clone());
    Ok(saved)
}

/// The sound devices to choose from (plus "null": no sound).
#[tauri::command]
#[specta::specta]
pub async fn output_devices() -> Answer<Vec<String>> {
    let mut names = tauri::async_runtime::spawn_blocking(whatssound_audio::device_names)
        .await
        .map_err(|e| AppError::new(crate::error::ErrorKind::Internal, e.to_string()))?
        .unwrap_or_default();
    names.push("null".into());
    Ok(names)
}
