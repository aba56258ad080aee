//! The process's open-file limit. Every NAS connection holds a descriptor, and the
//! usual soft limit (1,024) is far below the tens of thousands of NAS a server holds,
//! so `boomerang run` and `boomerang bench` raise the soft limit to the hard one (what
//! a process may do without privileges) and say what they got.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Raise the soft `RLIMIT_NOFILE` to the hard limit. Returns the soft limit in force
/// afterwards (`None`: unlimited or unknown).
pub fn raise() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return limit.maximum;
        }
    }
    limit.current
}
