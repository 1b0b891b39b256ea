//! `guichet serve` configuration: a TOML file, then environment variables,
//! then flags, each overriding the one before. Every setting has a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use guichet_engine::wal::Durability;
use ipnet::IpNet;
use serde::Deserialize;

use crate::cluster::ClusterSettings;

/// The fewest records between two snapshots.
const MIN_SNAPSHOT_EVERY_RECORDS: u64 = 100;
use crate::http::client_address::{parse_trusted_proxy, TrustedProxies};
use crate::mail::MailSettings;
use crate::payments::{PaymentSecrets, DEFAULT_STRIPE_API_BASE};

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
    /// Longest time from a request's first byte to the end of its headers
    /// [default: 5000].
    #[arg(long, env = "GUICHET_HEADER_TIMEOUT_MS")]
    pub header_timeout_ms: Option<u64>,
    /// Longest wait for the next request on a kept-alive connection, from
    /// the previous answer written (or the connection accepted); then the
    /// server closes it [default: 60000].
    #[arg(long, env = "GUICHET_KEEP_ALIVE_TIMEOUT_MS")]
    pub keep_alive_timeout_ms: Option<u64>,
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
    /// A snapshot is taken once the log has grown by this many records
    /// since the last (in a cluster, shared, and the stream trimmed behind
    /// the older of the two kept) [default: 1000000].
    #[arg(long, env = "GUICHET_SNAPSHOT_EVERY_RECORDS", value_parser = clap::value_parser!(u64).range(MIN_SNAPSHOT_EVERY_RECORDS..))]
    pub snapshot_every_records: Option<u64>,
    /// A reverse proxy (address or CIDR range) whose X-Forwarded-For names
    /// the client for the join budget; repeat for several. Without any, the
    /// header is ignored and the TCP peer is the client [default: none].
    #[arg(long = "trusted-proxy", env = "GUICHET_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_trusted_proxy)]
    pub trusted_proxies: Vec<IpNet>,
    /// Stripe's secret API key (`sk_...`), for events whose provider is `stripe`.
    #[arg(long, env = "GUICHET_STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,
    /// The signing secret of the Stripe webhook endpoint (`whsec_...`).
    #[arg(long, env = "GUICHET_STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<String>,
    /// Stripe's publishable key (`pk_...`, not a secret): the buyer's page
    /// needs it to show the card form of a `stripe` event.
    #[arg(long, env = "GUICHET_STRIPE_PUBLISHABLE_KEY")]
    pub stripe_publishable_key: Option<String>,
    /// Where Stripe's API is reached, as `http://host:port` (a TLS-originating
    /// egress proxy in production; a fake provider in tests) [default:
    /// http://127.0.0.1:8443].
    #[arg(long, env = "GUICHET_STRIPE_API_BASE")]
    pub stripe_api_base: Option<String>,
    /// The SMTP relay email to buyers leaves through, as `host:port` (plain
    /// SMTP to a local MTA). Without it no email is sent: it waits in the
    /// outbox [default: none].
    #[arg(long, env = "GUICHET_SMTP_RELAY")]
    pub smtp_relay: Option<String>,
    /// The sender of email to buyers, `Name <address>` or an address
    /// (needed with --smtp-relay; its domain ends every Message-ID).
    #[arg(long, env = "GUICHET_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// The address buyers reach this server at, e.g. `https://tickets.example.org`
    /// (needed with --smtp-relay: emailed order links start with it).
    #[arg(long, env = "GUICHET_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The longest one SMTP exchange may take [default: 10000].
    #[arg(long, env = "GUICHET_SMTP_TIMEOUT_MS")]
    pub smtp_timeout_ms: Option<u64>,
    /// Allows events whose provider is `test` (its page confirms a payment
    /// with no money moving): for demos, rehearsals and tests, never for a
    /// real sale. `guichet demo` sets it.
    #[arg(long, env = "GUICHET_ENABLE_TEST_PROVIDER")]
    pub enable_test_provider: bool,
    /// Cluster mode: the log is replicated on these NATS JetStream servers
    /// (`nats://host:port`, comma-separated) and a 2xx waits for their
    /// acknowledgement. Without it the server runs alone [default: none].
    #[arg(long, env = "GUICHET_CLUSTER", value_delimiter = ',')]
    pub cluster: Vec<String>,
    /// This node's name in the cluster (letters, digits, '-', '_'); needed with --cluster.
    #[arg(long, env = "GUICHET_NODE_ID")]
    pub node_id: Option<String>,
    /// How many NATS servers keep the replicated log [default: 3].
    #[arg(long, env = "GUICHET_CLUSTER_REPLICAS")]
    pub cluster_replicas: Option<usize>,
    /// How long one append waits for the cluster's answer before it is sent
    /// again; a change waiting twice as long is answered 503 [default: 2000].
    #[arg(long, env = "GUICHET_CLUSTER_APPEND_TIMEOUT_MS")]
    pub cluster_append_timeout_ms: Option<u64>,
    /// How long the primary's lease lasts unless renewed: a standby takes
    /// over this long after the primary stops [default: 2000].
    #[arg(long, env = "GUICHET_CLUSTER_LEASE_MS")]
    pub cluster_lease_ms: Option<u64>,
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
    keep_alive_timeout_ms: Option<u64>,
    joins_per_minute_per_client: Option<u32>,
    seat_calls_per_minute_per_buyer: Option<u32>,
    poll_tolerance_percent: Option<u8>,
    snapshot_every_records: Option<u64>,
    workers: Option<usize>,
    trusted_proxies: Option<Vec<String>>,
    stripe_secret_key: Option<String>,
    stripe_webhook_secret: Option<String>,
    stripe_publishable_key: Option<String>,
    stripe_api_base: Option<String>,
    smtp_relay: Option<String>,
    mail_from: Option<String>,
    public_url: Option<String>,
    smtp_timeout_ms: Option<u64>,
    enable_test_provider: Option<bool>,
    cluster: Option<Vec<String>>,
    node_id: Option<String>,
    cluster_replicas: Option<usize>,
    cluster_append_timeout_ms: Option<u64>,
    cluster_lease_ms: Option<u64>,
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
    pub keep_alive_timeout: Duration,
    pub joins_per_minute_per_client: u32,
    pub seat_calls_per_minute_per_buyer: u32,
    pub poll_tolerance_percent: u8,
    pub snapshot_every_records: u64,
    /// `None`: one per core.
    pub workers: Option<usize>,
    pub trusted_proxies: TrustedProxies,
    pub payments: PaymentSecrets,
    /// `None`: no relay, no email leaves.
    pub mail: Option<MailSettings>,
    /// `None`: alone, no replication.
    pub cluster: Option<ClusterSettings>,
}

impl ServeArgs {
    pub fn resolve(&self) -> Result<ServeConfig, String> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let cluster = self.cluster_settings(&file)?;
        let durability = match self.durability.or(file.durability).unwrap_or(DurabilityMode::Fsync) {
            DurabilityMode::Fsync => Durability::Fsync,
            DurabilityMode::None => Durability::None,
        };
        let snapshot_every_records = self.snapshot_every_records.or(file.snapshot_every_records).unwrap_or(1_000_000);
        if snapshot_every_records < MIN_SNAPSHOT_EVERY_RECORDS {
            return Err(format!(
                "snapshot_every_records: {snapshot_every_records} is below {MIN_SNAPSHOT_EVERY_RECORDS} (a snapshot copies the whole state)"
            ));
        }
        let admin_token = self.admin_token.clone().or(file.admin_token).filter(|t| !t.is_empty());
        if admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err("the admin token must be at least 16 characters".into());
        }
        // Flags and the environment variable fill the same list; an empty one
        // leaves the file's in force.
        let trusted_proxies = if self.trusted_proxies.is_empty() {
            file.trusted_proxies.iter().flatten().map(|p| parse_trusted_proxy(p)).collect::<Result<Vec<_>, _>>()?
        } else {
            self.trusted_proxies.clone()
        };
        let non_empty = |value: Option<String>| value.filter(|v| !v.is_empty());
        let payments = PaymentSecrets {
            stripe_secret_key: non_empty(self.stripe_secret_key.clone().or(file.stripe_secret_key)),
            stripe_webhook_secret: non_empty(self.stripe_webhook_secret.clone().or(file.stripe_webhook_secret)),
            stripe_publishable_key: non_empty(self.stripe_publishable_key.clone().or(file.stripe_publishable_key)),
            stripe_api_base: non_empty(self.stripe_api_base.clone().or(file.stripe_api_base))
                .unwrap_or_else(|| DEFAULT_STRIPE_API_BASE.to_owned()),
            enable_test_provider: self.enable_test_provider || file.enable_test_provider.unwrap_or(false),
        };
        if !payments.stripe_api_base.starts_with("http://") {
            return Err("stripe_api_base must be an http:// address (put a TLS-originating proxy before Stripe)".into());
        }
        let mail = MailChoice {
            relay: non_empty(self.smtp_relay.clone().or(file.smtp_relay)),
            from: non_empty(self.mail_from.clone().or(file.mail_from)),
            public_url: non_empty(self.public_url.clone().or(file.public_url)),
            timeout_ms: self.smtp_timeout_ms.or(file.smtp_timeout_ms).unwrap_or(10_000),
        }
        .resolve()?;
        Ok(ServeConfig {
            cluster,
            mail,
            payments,
            trusted_proxies: TrustedProxies::new(trusted_proxies)?,
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
            keep_alive_timeout: Duration::from_millis(
                self.keep_alive_timeout_ms.or(file.keep_alive_timeout_ms).unwrap_or(60_000),
            ),
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
            snapshot_every_records,
        })
    }
}

impl ServeArgs {
    fn cluster_settings(&self, file: &FileConfig) -> Result<Option<ClusterSettings>, String> {
        let servers =
            if self.cluster.is_empty() { file.cluster.clone().unwrap_or_default() } else { self.cluster.clone() };
        let servers: Vec<String> = servers.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
        if servers.is_empty() {
            return Ok(None);
        }
        let settings = ClusterSettings {
            servers,
            node_id: self.node_id.clone().or(file.node_id.clone()).unwrap_or_default(),
            replicas: self.cluster_replicas.or(file.cluster_replicas).unwrap_or(3),
            append_timeout: Duration::from_millis(
                self.cluster_append_timeout_ms.or(file.cluster_append_timeout_ms).unwrap_or(2_000).max(1),
            ),
            lease_ttl: Duration::from_millis(self.cluster_lease_ms.or(file.cluster_lease_ms).unwrap_or(2_000)),
        };
        settings.check()?;
        Ok(Some(settings))
    }
}

/// The mail settings as given, before they are checked together.
struct MailChoice {
    relay: Option<String>,
    from: Option<String>,
    public_url: Option<String>,
    timeout_ms: u64,
}

impl MailChoice {
    fn resolve(self) -> Result<Option<MailSettings>, String> {
        let Some(relay) = self.relay else { return Ok(None) };
        crate::mail::smtp::split_host_port(&relay).map_err(|e| format!("smtp_relay: {e}"))?;
        let from = self.from.ok_or("mail_from is needed with an SMTP relay")?;
        let from = from.parse().map_err(|e| format!("mail_from {from:?}: {e}"))?;
        let public_url =
            self.public_url.ok_or("public_url is needed with an SMTP relay (order links start with it)")?;
        if !(public_url.starts_with("https://") || public_url.starts_with("http://")) {
            return Err(format!("public_url {public_url:?} must start with https:// or http://"));
        }
        let public_url = public_url.trim_end_matches('/').to_owned();
        Ok(Some(MailSettings { relay, from, public_url, timeout: Duration::from_millis(self.timeout_ms) }))
    }
}

fn read_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn resolve(args: &[&str], file: &str) -> ServeConfig {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guichet.toml");
        std::fs::write(&path, file).unwrap();
        let path = path.to_str().unwrap().to_owned();
        let mut argv = vec!["guichet", "--config", &path];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap().serve.resolve().unwrap()
    }

    #[test]
    fn trusted_proxies_come_from_the_file_unless_flags_name_some() {
        let file = r#"trusted_proxies = ["10.0.0.0/8", "192.0.2.1"]"#;
        let from_file = resolve(&[], file).trusted_proxies;
        let expected = ["10.0.0.0/8", "192.0.2.1/32"].map(|p| p.parse().unwrap()).to_vec();
        assert_eq!(from_file, TrustedProxies::new(expected).unwrap());
        let from_flags = resolve(&["--trusted-proxy", "fd00::/8", "--trusted-proxy", "127.0.0.1"], file);
        let expected = ["fd00::/8", "127.0.0.1/32"].map(|p| p.parse().unwrap()).to_vec();
        assert_eq!(from_flags.trusted_proxies, TrustedProxies::new(expected).unwrap());
        assert!(resolve(&[], "").trusted_proxies.is_empty(), "none by default");
    }

    #[test]
    fn payment_secrets_come_from_the_file_then_flags_and_are_never_printed() {
        let file = "stripe_secret_key = \"sk_test_file\"\nstripe_webhook_secret = \"whsec_file\"";
        let from_file = resolve(&[], file).payments;
        assert_eq!(from_file.stripe_secret_key.as_deref(), Some("sk_test_file"));
        assert_eq!(from_file.stripe_api_base, DEFAULT_STRIPE_API_BASE);
        let flags = ["--stripe-webhook-secret", "whsec_flag", "--stripe-api-base", "http://127.0.0.1:9"];
        let from_flags = resolve(&flags, file).payments;
        assert_eq!(from_flags.stripe_webhook_secret.as_deref(), Some("whsec_flag"));
        assert_eq!(from_flags.stripe_api_base, "http://127.0.0.1:9");
        assert!(!format!("{from_flags:?}").contains("whsec"), "secrets stay out of logs");
        let publishable = resolve(&["--stripe-publishable-key", "pk_test_flag"], "").payments;
        assert_eq!(publishable.stripe_publishable_key.as_deref(), Some("pk_test_flag"));
        let from_file = resolve(&[], "stripe_publishable_key = \"pk_test_file\"").payments;
        assert_eq!(from_file.stripe_publishable_key.as_deref(), Some("pk_test_file"));
    }

    #[test]
    fn mail_needs_a_sender_and_a_public_url_with_a_relay() {
        assert!(resolve(&[], "").mail.is_none(), "no relay, no email");
        let file = "smtp_relay = \"127.0.0.1:2525\"\nmail_from = \"Guichet <tickets@example.org>\"";
        let mail = resolve(&["--public-url", "https://tickets.example.org/"], file).mail.unwrap();
        assert_eq!((mail.relay.as_str(), mail.public_url.as_str()), ("127.0.0.1:2525", "https://tickets.example.org"));
        assert_eq!(mail.from.email.domain(), "example.org");
        let refused = |args: &[&str]| {
            let mut argv = vec!["guichet"];
            argv.extend_from_slice(args);
            Cli::try_parse_from(argv).unwrap().serve.resolve().unwrap_err()
        };
        assert!(refused(&["--smtp-relay", "127.0.0.1:25", "--public-url", "http://x"]).contains("mail_from"));
        assert!(refused(&["--smtp-relay", "127.0.0.1:25", "--mail-from", "a@b.c"]).contains("public_url"));
        assert!(refused(&["--smtp-relay", "nohost", "--mail-from", "a@b.c"]).contains("smtp_relay"));
    }

    #[test]
    fn cluster_mode_needs_a_node_id_and_nats_urls() {
        assert!(resolve(&[], "").cluster.is_none(), "alone by default");
        let file = "cluster = [\"nats://127.0.0.1:4222\", \"nats://127.0.0.1:4223\"]\nnode_id = \"a\"";
        let from_file = resolve(&[], file).cluster.unwrap();
        assert_eq!((from_file.servers.len(), from_file.node_id.as_str(), from_file.replicas), (2, "a", 3));
        let from_flags =
            resolve(&["--cluster", "nats://10.0.0.1:4222", "--node-id", "b", "--cluster-replicas", "1"], file);
        let from_flags = from_flags.cluster.unwrap();
        assert_eq!((from_flags.servers, from_flags.replicas), (vec!["nats://10.0.0.1:4222".to_owned()], 1));
        let refused = |args: &[&str]| {
            let mut argv = vec!["guichet"];
            argv.extend_from_slice(args);
            Cli::try_parse_from(argv).unwrap().serve.resolve().unwrap_err()
        };
        assert!(refused(&["--cluster", "nats://127.0.0.1:4222"]).contains("node_id"));
        assert!(refused(&["--cluster", "127.0.0.1:4222", "--node-id", "a"]).contains("nats://"));
        assert!(refused(&["--cluster", "nats://h:1", "--node-id", "a b"]).contains("node_id"));
        assert!(refused(&["--cluster", "nats://h:1", "--node-id", "a", "--cluster-replicas", "9"]).contains("replicas"));
    }

    #[test]
    fn a_bad_trusted_proxy_is_refused() {
        assert!(Cli::try_parse_from(["guichet", "--trusted-proxy", "10.0.0.0/40"]).is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guichet.toml");
        std::fs::write(&path, r#"trusted_proxies = ["proxy.example"]"#).unwrap();
        let args = Cli::try_parse_from(["guichet", "--config", path.to_str().unwrap()]).unwrap();
        assert!(args.serve.resolve().unwrap_err().contains("proxy.example"));
    }
}
