//! The one error the UI receives: a kind to branch on and a sentence to show.

use serde::Serialize;
use specta::Type;
use whatssound_core::CoreError;
use whatssound_host::HostingError;
use whatssound_session::session::SessionError;
use whatssound_tunnel::TunnelError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Type)]
#[serde(rename_all = "camelCase")]
pub enum ErrorKind {
    /// Something typed or picked is wrong (an invite, a file that is not audio).
    BadInput,
    /// There is no room yet (or any more).
    NotInRoom,
    /// The room said no (host-only, refused with a reason).
    NotAllowed,
    /// The room could not be reached, or did not answer.
    Network,
    /// The sound device.
    Audio,
    /// Files and the disk.
    Storage,
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, Type, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{message}")]
pub struct AppError {
    pub kind: ErrorKind,
    pub message: String,
}

impl AppError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        AppError { kind, message: message.into() }
    }

    pub fn not_in_room() -> Self {
        AppError::new(ErrorKind::NotInRoom, "you are not in a room: host one or join with an invite")
    }
}

impl From<SessionError> for AppError {
    fn from(e: SessionError) -> Self {
        let kind = match &e {
            SessionError::BadInvite(_) => ErrorKind::BadInput,
            SessionError::Refused(_) | SessionError::HostOnly(_) => ErrorKind::NotAllowed,
            SessionError::NoAnswer | SessionError::Upload(_) => ErrorKind::Network,
            SessionError::Ended => ErrorKind::NotInRoom,
            SessionError::Hosting(h) => match h {
                HostingError::Probe(_) => ErrorKind::BadInput,
                HostingError::Refused(_) | HostingError::NotAllowed(_) => ErrorKind::NotAllowed,
                HostingError::Bind { .. } | HostingError::Hub(_) => ErrorKind::Network,
                HostingError::Task(_) => ErrorKind::Internal,
                HostingError::Record(_) => ErrorKind::Storage,
                HostingError::Core(c) => core_kind(c),
                HostingError::Tunnel(t) => tunnel_kind(t),
            },
            SessionError::Core(c) => core_kind(c),
        };
        AppError::new(kind, e.to_string())
    }
}

fn core_kind(e: &CoreError) -> ErrorKind {
    match e {
        CoreError::Store(_) | CoreError::Identity(_) => ErrorKind::Storage,
        CoreError::Client(_) | CoreError::Stopped | CoreError::JoinTimeout(_) => ErrorKind::Network,
        CoreError::NoHostKey | CoreError::BadAdminKey => ErrorKind::BadInput,
        CoreError::JoinRefused(_) => ErrorKind::NotAllowed,
        CoreError::Tunnel(t) => tunnel_kind(t),
        CoreError::Output(_) => ErrorKind::Audio,
    }
}

fn tunnel_kind(e: &TunnelError) -> ErrorKind {
    match e {
        TunnelError::RelayUrl { .. } | TunnelError::NodeId(_) => ErrorKind::BadInput,
        TunnelError::Key { .. } => ErrorKind::Storage,
        TunnelError::Bind(_) | TunnelError::Connect { .. } | TunnelError::Local(_) | TunnelError::RelayServer(_) => ErrorKind::Network,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_session_error_becomes_a_kind_and_a_readable_sentence() {
        let cases = [
            (SessionError::BadInvite("missing ws".into()), ErrorKind::BadInput),
            (SessionError::Refused("only the host may skip".into()), ErrorKind::NotAllowed),
            (SessionError::NoAnswer, ErrorKind::Network),
            (SessionError::Ended, ErrorKind::NotInRoom),
            (SessionError::Core(CoreError::NoHostKey), ErrorKind::BadInput),
            (SessionError::Core(CoreError::JoinTimeout(10)), ErrorKind::Network),
            (SessionError::Core(CoreError::JoinRefused("wrong token".into())), ErrorKind::NotAllowed),
        ];
        for (error, kind) in cases {
            let shown = error.to_string();
            let app = AppError::from(error);
            assert_eq!(app.kind, kind, "{shown}");
            assert_eq!(app.message, shown);
            assert!(!app.message.is_empty() && !app.message.contains('\n'));
        }
    }
}
