//! The shard runtime (being written): one pinned glommio executor per core.

use crate::config::Config;

/// Run the server until SIGINT/SIGTERM. (Being written.)
pub fn serve(_config: Config) -> std::io::Result<()> {
    Err(std::io::Error::other("the runtime is not built yet"))
}
