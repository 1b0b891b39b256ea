//! `--spawn`: a `guichet` server started by the tool on a temporary data
//! directory (or, with `--cluster`, a whole cluster), and the restart of that
//! server on the same directory and address after `--chaos kill:SECONDS`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long a starting server has to say where it listens (recovery included).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The server's binary: `--server-bin`, else `guichet` beside this tool (both
/// come out of the same `cargo build`), else `guichet` on the PATH.
pub fn find_server_binary(given: Option<&Path>) -> PathBuf {
    if let Some(path) = given {
        return path.to_owned();
    }
    let beside = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|dir| dir.join("guichet")));
    match beside {
        Some(path) if path.is_file() => path,
        _ => PathBuf::from("guichet"),
    }
}

/// What the tool started for the run.
pub enum Started {
    Alone(Box<Spawned>),
    Cluster(Box<crate::cluster::Cluster>),
}

impl Started {
    /// Where buyers go: the server, or HAProxy in front of the cluster.
    pub fn url(&self) -> String {
        match self {
            Started::Alone(server) => server.url(),
            Started::Cluster(cluster) => cluster.url(),
        }
    }

    /// Stops every process (SIGKILL: the run is over and its directories go away).
    pub async fn stop(self) {
        match self {
            Started::Alone(server) => server.stop().await,
            Started::Cluster(cluster) => cluster.stop().await,
        }
    }
}

/// A running server of ours.
pub struct Spawned {
    binary: PathBuf,
    data_dir: tempfile::TempDir,
    admin_token: String,
    child: Child,
    pub address: SocketAddr,
    /// Restarts after a kill, and how long each took to listen again.
    pub restarts: Vec<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(
        "starting {binary}: {error} (build it with `cargo build --release -p guichet-gateway`, or pass --server-bin)"
    )]
    Start { binary: String, error: std::io::Error },
    #[error("the server did not say where it listens within {START_TIMEOUT:?}: {0}")]
    NoAddress(String),
    #[error("temporary data directory: {0}")]
    TempDir(std::io::Error),
}

impl Spawned {
    pub async fn start(binary: PathBuf, admin_token: &str) -> Result<Self, SpawnError> {
        let data_dir = tempfile::Builder::new().prefix("guichet-loadtest-").tempdir().map_err(SpawnError::TempDir)?;
        let (child, address) = launch(&binary, data_dir.path(), "127.0.0.1:0", admin_token, &[]).await?;
        Ok(Self { binary, data_dir, admin_token: admin_token.to_owned(), child, address, restarts: Vec::new() })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// SIGKILL, then a restart on the same data directory and address.
    pub async fn kill_and_restart(&mut self) -> Result<(), SpawnError> {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        let began = std::time::Instant::now();
        let listen = self.address.to_string();
        let (child, address) = launch(&self.binary, self.data_dir.path(), &listen, &self.admin_token, &[]).await?;
        self.child = child;
        self.address = address;
        self.restarts.push(began.elapsed());
        Ok(())
    }

    /// Stops the server (SIGKILL: the run is over and its directory goes away).
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Starts `guichet serve` (with `extra_args`) and waits for the line saying where it listens.
pub async fn launch(
    binary: &Path,
    data_dir: &Path,
    listen: &str,
    admin_token: &str,
    extra_args: &[String],
) -> Result<(Child, SocketAddr), SpawnError> {
    let mut child = Command::new(binary)
        .args(["serve", "--listen", listen, "--data-dir"])
        .arg(data_dir)
        .args(extra_args)
        // The tool polls exactly when told; no tolerance needed, and every poll is a real one.
        .args(["--poll-tolerance-percent", "0"])
        // The paid presets sell through the test provider.
        .arg("--enable-test-provider")
        .env("GUICHET_ADMIN_TOKEN", admin_token)
        .env("GUICHET_LOG", std::env::var("GUICHET_LOG").unwrap_or_else(|_| "warn".into()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| SpawnError::Start { binary: binary.display().to_string(), error })?;
    let stdout = child.stdout.take().ok_or_else(|| SpawnError::NoAddress("no stdout".into()))?;
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(START_TIMEOUT, lines.next_line())
        .await
        .map_err(|_| SpawnError::NoAddress("timed out".into()))?
        .map_err(|e| SpawnError::NoAddress(e.to_string()))?
        .ok_or_else(|| SpawnError::NoAddress("the server exited".into()))?;
    let address = first
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| SpawnError::NoAddress(format!("unexpected first line {first:?}")))?;
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, address))
}
