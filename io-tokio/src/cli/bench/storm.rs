//! `bench storm`: every NAS connects at the same moment, as after a server restart;
//! the figure is the time until all are identified (their Status-Server answered), with
//! the distribution of each NAS's connect-to-identified time.

use super::BenchError;
use super::connections::{self, ConnectionsArgs, Kind};

/// Runs the storm: `connections` with every NAS connecting at once (unless
/// --connect-concurrency says otherwise) and no hold.
pub async fn run(mut args: ConnectionsArgs) -> Result<(), BenchError> {
    if args.nas.connect_concurrency.is_none() {
        args.nas.connect_concurrency = Some(args.nas.nas);
    }
    connections::run(args, Kind::Storm).await
}
