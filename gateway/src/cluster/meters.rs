//! What a primary counts about its replication, for `/metrics` (a standby
//! answers its own: role and lag, in `standby_http`).

use prometheus::core::Collector;
use prometheus::{Gauge, IntCounter, IntGauge};

/// Handles shared by the shipper and the metrics registry.
#[derive(Clone)]
pub struct ClusterMeters {
    /// 1 once this node holds the lease and serves.
    pub primary: IntGauge,
    /// The lease revision this node took over with: it changes at every
    /// takeover, so its changes count the failovers.
    pub term: IntGauge,
    /// Messages the stream took.
    pub appends: IntCounter,
    /// Appends sent again (no answer, no quorum).
    pub append_retries: IntCounter,
    /// 1 once an append was refused (another node appended): fail-stop.
    pub fenced: IntGauge,
    /// The last record the stream acknowledged.
    pub replicated_sequence: IntGauge,
    /// How long the last append took, from send to acknowledgement.
    pub append_last_seconds: Gauge,
    /// Records this node's takeover replayed from its disk (0 when its
    /// engine followed the stream as a standby: it was hot).
    pub takeover_records_replayed: IntGauge,
}

impl ClusterMeters {
    pub fn new() -> ClusterMeters {
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("a valid metric");
        let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("a valid metric");
        ClusterMeters {
            primary: gauge("guichet_cluster_primary", "1 on the node that holds the lease and serves"),
            term: gauge(
                "guichet_cluster_term",
                "The lease revision this primary took over with (it changes at every takeover)",
            ),
            appends: counter("guichet_cluster_appends_total", "Messages the replicated stream took"),
            append_retries: counter(
                "guichet_cluster_append_retries_total",
                "Appends sent again because the stream did not answer (no quorum)",
            ),
            fenced: gauge("guichet_cluster_fenced", "1 once another node appended in this node's place"),
            replicated_sequence: gauge(
                "guichet_cluster_replicated_sequence",
                "The last log record the replicated stream acknowledged",
            ),
            append_last_seconds: Gauge::new(
                "guichet_cluster_append_last_seconds",
                "Time from sending the last append to its acknowledgement",
            )
            .expect("a valid metric"),
            takeover_records_replayed: gauge(
                "guichet_cluster_takeover_records_replayed",
                "Records this primary replayed from its disk when it took over (0: its standby engine was hot)",
            ),
        }
    }

    /// Every handle, for a registry.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.primary.clone()),
            Box::new(self.term.clone()),
            Box::new(self.appends.clone()),
            Box::new(self.append_retries.clone()),
            Box::new(self.fenced.clone()),
            Box::new(self.replicated_sequence.clone()),
            Box::new(self.append_last_seconds.clone()),
            Box::new(self.takeover_records_replayed.clone()),
        ]
    }
}

impl Default for ClusterMeters {
    fn default() -> Self {
        Self::new()
    }
}
