//! A SPDY/3.1 server, written from the SPDY/3.1 specification, as spoken by Kubernetes
//! clients (client-go's `moby/spdystream`) for exec, attach and port-forward.

pub mod client;
pub mod conn;
pub mod dictionary;
pub mod frame;

pub use conn::{Connection, SpdyStream};
pub use frame::{Frame, FrameCodec, Headers};
