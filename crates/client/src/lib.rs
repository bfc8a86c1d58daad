//! A realtime client for the hub — and, by protocol, for any Phoenix Channels / Supabase Realtime
//! server — that keeps its channels alive across network trouble.
//!
//! - [`backoff`]: reconnect delays, exponential with jitter (pure; the randomness is injected).
//! - [`channels`]: the set of channels the application wants, with their join options and the
//!   presence meta to re-track, and the refs of requests awaiting a reply (pure).
//! - [`Client`]: the handle; one task owns the socket (`connection`, private) and reconnects it,
//!   rejoining every channel and re-tracking presence, then reports [`ClientEvent::Rejoined`] so the
//!   application can re-fetch its state (the LiveView re-mount).
//!
//! The client speaks vsn 2.0.0 JSON and reads binary kind 4 user broadcasts, so it takes part in
//! channels shared with realtime-js clients.

pub mod backoff;
pub mod channels;

mod connection;

pub use backoff::Backoff;
pub use channels::JoinOptions;
pub use connection::{Client, ClientConfig, ClientError, ClientEvent, ConnectionStatus};
