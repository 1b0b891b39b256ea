//! `guichet serve` configuration: a TOML file, then environment variables,
//! then flags, each overriding the one before. Every setting has a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use guichet_engine::wal::Durability;
use serde::Deserialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DurabilityMode {
    /// fdatasync every batch: acknowledged changes survive a machine crash.
    Fsync,
    /// UNSAFE, for benchmarks: acknowledged changes can be lost.
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// A TOML file with any of the settings below (flags and environment win).
    #[arg(long, env = "GUICHET_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080]. Port 0 picks a free port.
    #[arg(long, env = "GUICHET_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// The data directory: log, snapshots, signing keys [default: ./data].
    #[arg(long, env = "GUICHET_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The admin token; generated and printed at start if not set.
    #[arg(long, env = "GUICHET_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// fsync (default) or none (UNSAFE: for benchmarks only).
    #[arg(long, env = "GUICHET_DURABILITY", value_enum)]
    pub durability: Option<DurabilityMode>,
    /// Log format: text (default) or json.
    #[arg(long, env = "GUICHET_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Largest request body in bytes [default: 1048576].
    #[arg(long, env = "GUICHET_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Connections served at once; more wait to be accepted [default: 10000].
    #[arg(long, env = "GUICHET_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Longest time a request may take before it is answered 503 [default: 10000].
    #[arg(long, env = "GUICHET_REQUEST_TIMEOUT_MS")]
    pub request_timeout_ms: Option<u64>,
    /// Longest time to receive a request's headers [default: 5000].
    #[arg(long, env = "GUICHET_HEADER_TIMEOUT_MS")]
    pub header_timeout_ms: Option<u64>,
    /// Queue joins one client address may make per minute [default: 100000,
    /// enough for a load test from one machine].
    #[arg(long, env = "GUICHET_JOINS_PER_MINUTE_PER_CLIENT")]
    pub joins_per_minute_per_client: Option<u32>,
    /// Seat calls (seat map, holds, purchases, orders) one admitted buyer may
    /// make per minute; past it, 429 [default: 600].
    #[arg(long, env = "GUICHET_SEAT_CALLS_PER_MINUTE_PER_BUYER")]
    pub seat_calls_per_minute_per_buyer: Option<u32>,
    /// Threads serving requests [default: one per core].
    #[arg(long, env = "GUICHET_WORKERS")]
    pub workers: Option<usize>,
    /// A status poll is accepted from this percentage of the advised
    /// interval on; sooner is 429 [default: 90; 0 accepts every poll: load tests only].
    #[arg(long, env = "GUICHET_POLL_TOLERANCE_PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub poll_tolerance_percent: Option<u8>,
}

/// The same settings in the TOML file; unknown keys are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    admin_token: Option<String>,
    durability: Option<DurabilityMode>,
    log_format: Option<LogFormat>,
    max_body_bytes: Option<usize>,
    max_connections: Option<usize>,
    request_timeout_ms: Option<u64>,
    header_timeout_ms: Option<u64>,
    joins_per_minute_per_client: Option<u32>,
    seat_calls_per_minute_per_buyer: Option<u32>,
    poll_tolerance_percent: Option<u8>,
    workers: Option<usize>,
}

/// Settings resolved from all sources.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub admin_token: Option<String>,
    pub durability: Durability,
    pub log_format: LogFormat,
    pub max_body_bytes: usize,
    pub max_connections: usize,
    pub request_timeout: Duration,
    pub header_timeout: Duration,
    pub joins_per_minute_per_client: u32,
    pub seat_calls_per_minute_per_buyer: u32,
    pub poll_tolerance_percent: u8,
    /// `None`: one per core.
    pub workers: Option<usize>,
}

impl ServeArgs {
    pub fn resolve(&self) -> Result<ServeConfig, String> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let durability = match self.durability.or(file.durability).unwrap_or(DurabilityMode::Fsync) {
            DurabilityMode::Fsync => Durability::Fsync,
            DurabilityMode::None => Durability::None,
        };
        let admin_token = self.admin_token.clone().or(file.admin_token).filter(|t| !t.is_empty());
        if admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err("the admin token must be at least 16 characters".into());
        }
        Ok(ServeConfig {
            listen: self.listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".parse().expect("a valid address")),
            data_dir: self.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from("./data")),
            admin_token,
            durability,
            log_format: self.log_format.or(file.log_format).unwrap_or(LogFormat::Text),
            max_body_bytes: self.max_body_bytes.or(file.max_body_bytes).unwrap_or(1024 * 1024),
            max_connections: self.max_connections.or(file.max_connections).unwrap_or(10_000),
            request_timeout: Duration::from_millis(
                self.request_timeout_ms.or(file.request_timeout_ms).unwrap_or(10_000),
            ),
            header_timeout: Duration::from_millis(self.header_timeout_ms.or(file.header_timeout_ms).unwrap_or(5_000)),
            joins_per_minute_per_client: self
                .joins_per_minute_per_client
                .or(file.joins_per_minute_per_client)
                .unwrap_or(100_000),
            seat_calls_per_minute_per_buyer: self
                .seat_calls_per_minute_per_buyer
                .or(file.seat_calls_per_minute_per_buyer)
                .unwrap_or(600),
            workers: self.workers.or(file.workers).filter(|w| *w > 0),
            poll_tolerance_percent: self.poll_tolerance_percent.or(file.poll_tolerance_percent).unwrap_or(90).min(100),
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}
