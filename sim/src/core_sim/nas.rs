//! What the simulated NAS fleet shares with the server's program: the RadSec
//! secret and the attribute a NAS names itself by. The NAS itself is
//! [`boomerang_core::testnet::Nas`].

/// The RadSec secret the fleet uses.
pub const RADSEC_SECRET: &[u8] = b"radsec";

/// [`RADSEC_SECRET`] as text.
pub const RADSEC_SECRET_STR: &str = "radsec";

pub use boomerang_core::testnet::nas::NAS_IDENTIFIER;
