//! The shutdown signal: SIGINT (Ctrl-C) or SIGTERM (service managers, `kill`).

use std::future::Future;

/// Registers for SIGINT and SIGTERM *now* and returns a future that completes at the first one.
///
/// Registering eagerly matters: a command prints its ready line and a script may signal it at once;
/// a handler installed only when the future is first polled would let that signal kill the process
/// with the default action instead of a clean shutdown.
pub fn signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()));
        async move {
            match handlers {
                (Ok(mut int), Ok(mut term)) => {
                    tokio::select! {
                        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
                        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
