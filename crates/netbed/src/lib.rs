//! The network test bed: the networks listeners really meet (Wi-Fi, home NATs, the internet),
//! built on one machine so tests and benchmarks can put WhatsSound through them.
//!
//! `tests/net/bed.sh` makes the topology: network namespaces for a host, a "wan" and each
//! listener's home, joined by veth pairs, each home behind its own NAT router (nftables
//! masquerade). Its router queues every forwarded packet to userspace (NFQUEUE), where this
//! crate's binary decides what the path does to it. This kernel has no netem, so that is the only
//! way to delay real packets, TCP and UDP alike.
//!
//! - [`profile`]: the paths as numbers (`lan`, `wifi`, `internet`, `bad`, or written out).
//! - [`link`]: the pure part — each packet's [`Fate`] (dropped, or released at an instant), in
//!   order, with jitter, loss and Wi-Fi stalls; driven by an injected clock and RNG.
//! - [`impairer`]: the IO edge that owns the NFQUEUE socket and carries out those fates.
//! - [`probe`]: a UDP echo and prober, to measure the bed from inside.
//! - [`bed`]: the bed from Rust tests: up on creation, torn down (namespaces, processes, rules) on
//!   drop, even when the test panics; or a one-line reason it cannot run here.

pub mod bed;
pub mod impairer;
pub mod link;
pub mod probe;
pub mod profile;

pub use bed::{Bed, BedUnavailable};
pub use link::{Fate, Path};
pub use profile::{Direction, Profile, ProfileError};

/// What can go wrong in the bed's own programs.
#[derive(Debug, thiserror::Error)]
pub enum NetbedError {
    #[error("NFQUEUE: {0} (the impairer needs root, or CAP_NET_ADMIN, in the bed's namespace)")]
    Queue(String),
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Profile(#[from] ProfileError),
}
