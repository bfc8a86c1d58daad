//! The desktop app's room: one [`session::Session`] from hosting or joining to leaving, over the
//! host and member crates, with what happens as ready-to-show events.
//!
//! - [`session`]: [`session::Session`] — host (a `HostedRoom`, then joining it as its host) or
//!   join by invite; act, add files, leave; one task owns the member and the view model.
//! - [`view`]: [`view::RoomModel`], the member's accepted state, presence and activity rendered as
//!   what a UI shows ([`view::RoomView`]).

pub mod session;
pub mod view;
