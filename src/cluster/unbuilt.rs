//! What stands for [`etcd`](self) in a build without the `cargo` feature `cluster` (which
//! needs `protoc` to compile etcd's client): the cluster thread cannot start, so a host with
//! `[cluster]` refuses to run and says how to build one that can. Nothing else changes.

use std::sync::Arc;

use super::map::{ClusterMap, NodeName};
use crate::config::ClusterConfig;
use crate::placement::Partition;

/// What the refusal says.
pub const NOT_BUILT: &str = "this ringpost was built without cluster support: build it with \
     `cargo build --release --features cluster` (needs protoc, Debian protobuf-compiler)";

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{0}")]
    Refused(String),
}

/// Never made: [`ClusterHandle::start`] always refuses.
#[derive(Clone)]
pub struct ClusterHandle {
    never: std::convert::Infallible,
}

impl std::fmt::Debug for ClusterHandle {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.never {}
    }
}

impl ClusterHandle {
    pub fn start(_config: &ClusterConfig) -> Result<ClusterHandle, ClusterError> {
        Err(ClusterError::Refused(NOT_BUILT.into()))
    }

    pub fn map(&self) -> Arc<ClusterMap> {
        match self.never {}
    }

    pub fn this_node(&self) -> &NodeName {
        match self.never {}
    }

    pub fn is_fenced(&self) -> bool {
        match self.never {}
    }

    pub fn published(&self) -> u64 {
        match self.never {}
    }

    pub fn failovers(&self) -> u64 {
        match self.never {}
    }

    pub fn metric_lines(&self) -> Vec<String> {
        match self.never {}
    }

    /// Never called: there is no handle without the feature.
    pub fn drop_replica(
        &self,
        _partition: Partition,
        _replica: NodeName,
        _epoch: u64,
    ) -> futures_channel::oneshot::Receiver<Result<bool, ClusterError>> {
        match self.never {}
    }

    /// Never called: there is no handle without the feature.
    pub fn hand_off(
        &self,
        _partition: Partition,
        _epoch: u64,
    ) -> futures_channel::oneshot::Receiver<Result<bool, ClusterError>> {
        match self.never {}
    }

    pub fn stop(&self) {
        match self.never {}
    }
}
