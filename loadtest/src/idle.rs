//! placeholder
use crate::cli::Opts;
use crate::conn::Endpoint;
use crate::report::Report;
pub fn run(_opts: &Opts, _ep: &Endpoint) -> Result<Report, String> {
    Err("not yet".into())
}
