//! `--cluster` (with `--spawn`): the cluster docs/operations.md describes,
//! started by the tool on loopback for one run: three NATS servers
//! (JetStream, `sync_interval: always`, each with its own store), three
//! `guichet` nodes with `--cluster`, and HAProxy in front, configured with
//! docs/haproxy.cfg itself. Buyers go through HAProxy. Like a service
//! manager, the tool starts again a node that exits on its own (a deposed
//! primary exits with status 75).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use nix::sys::signal::Signal;
use tokio::process::{Child, Command};

use crate::spawn::launch;

/// docs/haproxy.cfg, the configuration operators are given: the one the run uses.
const HAPROXY_CONFIG: &str = include_str!("../../docs/haproxy.cfg");
/// docs/haproxy-503.http, HAProxy's answer while no node is ready.
const HAPROXY_503: &str = include_str!("../../docs/haproxy-503.http");
/// Nodes and NATS servers: three of each, one per machine of a small cluster.
pub const MACHINES: usize = 3;
/// How long a `/readyz` probe may take before the node counts as not ready.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long the cluster has to elect its first primary and HAProxy to route to it.
const FIRST_PRIMARY_PATIENCE: Duration = Duration::from_secs(60);
/// How long a process has to listen on its port.
const LISTEN_PATIENCE: Duration = Duration::from_secs(20);

/// The binaries a cluster runs.
pub struct ClusterBinaries {
    pub guichet: PathBuf,
    pub nats_server: PathBuf,
    pub haproxy: PathBuf,
}

struct NatsServer {
    client_port: u16,
    config: PathBuf,
    store: PathBuf,
    process: Option<Child>,
}

struct Node {
    id: String,
    data_dir: PathBuf,
    address: SocketAddr,
    process: Option<Child>,
    /// Stopped with SIGSTOP: not to be probed, not to be restarted.
    stopped: bool,
}

/// A running cluster of ours; every process is killed when it is dropped.
pub struct Cluster {
    /// Holds the stores, data directories and configurations.
    dir: tempfile::TempDir,
    binaries: ClusterBinaries,
    admin_token: String,
    nats: Vec<NatsServer>,
    nodes: Vec<Node>,
    /// HAProxy's process (killed on drop), once started, and where buyers reach it.
    haproxy: Option<Child>,
    pub address: SocketAddr,
    probe: Client<HttpConnector, Empty<Bytes>>,
    /// What the tool did as a service manager (a node that exited, started again), and when.
    pub supervision: Vec<(Instant, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    #[error("starting node {node}: {error}")]
    Node { node: String, error: crate::spawn::SpawnError },
    #[error("{0} did not listen within {LISTEN_PATIENCE:?}")]
    NotListening(String),
    #[error("docs/haproxy.cfg is refused by {binary}: {stderr}")]
    HaproxyConfig { binary: String, stderr: String },
    #[error("no node became the primary, reachable through HAProxy, within {FIRST_PRIMARY_PATIENCE:?}")]
    NoPrimary,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |error| ClusterError::Io { what, error }
}

impl Cluster {
    /// Starts the NATS servers, the nodes, and HAProxy; returns once a
    /// primary answers through HAProxy.
    pub async fn start(binaries: ClusterBinaries, admin_token: &str) -> Result<Cluster, ClusterError> {
        let dir = tempfile::Builder::new()
            .prefix("guichet-loadtest-cluster-")
            .tempdir()
            .map_err(io("temporary directory"))?;
        let nats = nats_configurations(dir.path())?;
        let probe = Client::builder(TokioExecutor::new()).build_http();
        let mut cluster = Cluster {
            binaries,
            admin_token: admin_token.to_owned(),
            nats,
            nodes: Vec::new(),
            haproxy: None,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            probe,
            supervision: Vec::new(),
            dir,
        };
        for index in 0..MACHINES {
            cluster.start_nats(index).await?;
        }
        for index in 0..MACHINES {
            let id = format!("node-{}", char::from(b'a' + index as u8));
            let data_dir = cluster.dir.path().join(&id);
            let (child, address) = cluster.launch_node(&id, &data_dir, "127.0.0.1:0").await?;
            cluster.nodes.push(Node { id, data_dir, address, process: Some(child), stopped: false });
        }
        let (haproxy, address) = cluster.start_haproxy().await?;
        cluster.haproxy = Some(haproxy);
        cluster.address = address;
        if cluster.wait_routed(FIRST_PRIMARY_PATIENCE).await.is_none() {
            return Err(ClusterError::NoPrimary);
        }
        Ok(cluster)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn node_id(&self, index: usize) -> &str {
        &self.nodes[index].id
    }

    /// The node that answers `/readyz` 200, if one does.
    pub async fn primary(&self) -> Option<usize> {
        for (index, node) in self.nodes.iter().enumerate() {
            if !node.stopped && node.process.is_some() && self.ready(node.address).await {
                return Some(index);
            }
        }
        None
    }

    /// Waits for a primary (other than `not`) within `patience`.
    pub async fn wait_new_primary(&self, not: Option<usize>, patience: Duration) -> Option<usize> {
        let began = Instant::now();
        while began.elapsed() < patience {
            match self.primary().await {
                Some(index) if Some(index) != not => return Some(index),
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        None
    }

    /// SIGKILL to node `index`, then started again on its data directory, as
    /// its service manager would.
    pub async fn kill_and_restart_node(&mut self, index: usize) -> Result<(), ClusterError> {
        kill(&mut self.nodes[index].process).await;
        self.restart_node(index).await
    }

    /// Loses machine `index`: its node and its NATS server killed with
    /// SIGKILL, both data directories deleted, then both started again
    /// empty (a replacement machine): the NATS server catches up from the
    /// other two, the node copies the stream.
    pub async fn lose_machine(&mut self, index: usize) -> Result<(), ClusterError> {
        kill(&mut self.nodes[index].process).await;
        kill(&mut self.nats[index].process).await;
        for dir in [&self.nodes[index].data_dir, &self.nats[index].store] {
            match std::fs::remove_dir_all(dir) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    return Err(ClusterError::Io { what: format!("deleting {}", dir.display()), error });
                }
                _ => {}
            }
        }
        self.start_nats(index).await?;
        self.restart_node(index).await
    }

    /// Sends `signal` to node `index` (SIGSTOP, SIGCONT).
    pub fn signal_node(&mut self, index: usize, signal: Signal) {
        let node = &mut self.nodes[index];
        node.stopped = signal == Signal::SIGSTOP;
        if let Some(pid) = node.process.as_ref().and_then(Child::id) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
        }
    }

    /// SIGKILL to the first NATS server still running; left down. Answers its index.
    pub async fn kill_nats(&mut self) -> Option<usize> {
        let index = self.nats.iter().position(|server| server.process.is_some())?;
        kill(&mut self.nats[index].process).await;
        Some(index)
    }

    /// Starts again every node that exited on its own; says which and why.
    pub async fn supervise(&mut self) -> Result<(), ClusterError> {
        for index in 0..self.nodes.len() {
            let exited = match self.nodes[index].process.as_mut() {
                Some(child) => child.try_wait().ok().flatten(),
                None => None,
            };
            if let Some(status) = exited {
                self.nodes[index].process = None;
                let what = format!("{} exited ({status}) and was started again", self.nodes[index].id);
                eprintln!("guichet-loadtest: {what}");
                self.supervision.push((Instant::now(), what));
                self.restart_node(index).await?;
            }
        }
        Ok(())
    }

    /// Stops everything (SIGKILL: the run is over and the directory goes away).
    pub async fn stop(mut self) {
        let nodes = self.nodes.iter_mut().map(|node| &mut node.process);
        let servers = self.nats.iter_mut().map(|server| &mut server.process);
        for process in nodes.chain(servers).chain(std::iter::once(&mut self.haproxy)) {
            kill(process).await;
        }
    }

    async fn restart_node(&mut self, index: usize) -> Result<(), ClusterError> {
        let node = &self.nodes[index];
        let (id, data_dir, listen) = (node.id.clone(), node.data_dir.clone(), node.address.to_string());
        let (child, _) = self.launch_node(&id, &data_dir, &listen).await?;
        let node = &mut self.nodes[index];
        node.process = Some(child);
        node.stopped = false;
        Ok(())
    }

    async fn launch_node(&self, id: &str, data_dir: &Path, listen: &str) -> Result<(Child, SocketAddr), ClusterError> {
        let urls: Vec<String> = self.nats.iter().map(|s| format!("nats://127.0.0.1:{}", s.client_port)).collect();
        let args = ["--cluster", &urls.join(","), "--node-id", id, "--trusted-proxy", "127.0.0.1"].map(String::from);
        launch(&self.binaries.guichet, data_dir, listen, &self.admin_token, &args)
            .await
            .map_err(|error| ClusterError::Node { node: id.to_owned(), error })
    }

    async fn start_nats(&mut self, index: usize) -> Result<(), ClusterError> {
        let server = &mut self.nats[index];
        let child = Command::new(&self.binaries.nats_server)
            .arg("-c")
            .arg(&server.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(io(format!("starting {}", self.binaries.nats_server.display())))?;
        server.process = Some(child);
        wait_listening(server.client_port, &format!("nats-server {index}")).await
    }

    /// HAProxy with docs/haproxy.cfg, its placeholders filled in; checked with `-c` first.
    async fn start_haproxy(&self) -> Result<(Child, SocketAddr), ClusterError> {
        let port = free_port()?;
        let errorfile = self.dir.path().join("haproxy-503.http");
        std::fs::write(&errorfile, HAPROXY_503).map_err(io("writing haproxy-503.http"))?;
        let config = HAPROXY_CONFIG
            .replace("${LISTEN}", &format!("127.0.0.1:{port}"))
            .replace("${ERRORFILE_503}", &errorfile.display().to_string())
            .replace("${NODE_A}", &self.nodes[0].address.to_string())
            .replace("${NODE_B}", &self.nodes[1].address.to_string())
            .replace("${NODE_C}", &self.nodes[2].address.to_string());
        let path = self.dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).map_err(io("writing haproxy.cfg"))?;
        let binary = &self.binaries.haproxy;
        let check = Command::new(binary)
            .args(["-q", "-c", "-f"])
            .arg(&path)
            .output()
            .await
            .map_err(io(format!("running {}", binary.display())))?;
        if !check.status.success() {
            let stderr = String::from_utf8_lossy(&check.stderr).into_owned();
            return Err(ClusterError::HaproxyConfig { binary: binary.display().to_string(), stderr });
        }
        let child = Command::new(binary)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(io(format!("starting {}", binary.display())))?;
        wait_listening(port, "haproxy").await?;
        Ok((child, SocketAddr::from(([127, 0, 0, 1], port))))
    }

    /// Waits until a primary answers `/readyz` 200 through HAProxy; answers when.
    pub async fn wait_routed(&self, patience: Duration) -> Option<Instant> {
        let began = Instant::now();
        while began.elapsed() < patience {
            if self.ready(self.address).await {
                return Some(Instant::now());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    async fn ready(&self, address: SocketAddr) -> bool {
        let Ok(uri) = format!("http://{address}/readyz").parse::<hyper::Uri>() else { return false };
        let answer = tokio::time::timeout(PROBE_TIMEOUT, self.probe.get(uri)).await;
        matches!(answer, Ok(Ok(response)) if response.status() == 200)
    }
}

/// Each server's configuration file and store directory under `dir`: a
/// three-server JetStream cluster that fsyncs what it acknowledges.
fn nats_configurations(dir: &Path) -> Result<Vec<NatsServer>, ClusterError> {
    let client_ports = (0..MACHINES).map(|_| free_port()).collect::<Result<Vec<_>, _>>()?;
    let route_ports = (0..MACHINES).map(|_| free_port()).collect::<Result<Vec<_>, _>>()?;
    let routes: Vec<String> = route_ports.iter().map(|port| format!("nats-route://127.0.0.1:{port}")).collect();
    let mut servers = Vec::new();
    for index in 0..MACHINES {
        let store = dir.join(format!("nats-{index}"));
        let config = dir.join(format!("nats-{index}.conf"));
        let text = format!(
            "server_name: n{index}\nlisten: 127.0.0.1:{client}\nmax_payload: 8MB\n\
             jetstream {{\n  store_dir: \"{store}\"\n  sync_interval: always\n}}\n\
             cluster {{\n  name: guichet-loadtest\n  listen: 127.0.0.1:{route}\n  routes: [{routes}]\n}}\n",
            client = client_ports[index],
            store = store.display(),
            route = route_ports[index],
            routes = routes.join(", "),
        );
        std::fs::write(&config, text).map_err(io(format!("writing {}", config.display())))?;
        servers.push(NatsServer { client_port: client_ports[index], config, store, process: None });
    }
    Ok(servers)
}

/// SIGKILL to the process, if it runs, and waits for it to be reaped.
async fn kill(process: &mut Option<Child>) {
    if let Some(mut child) = process.take() {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

/// A loopback port free a moment ago.
fn free_port() -> Result<u16, ClusterError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    Ok(listener.local_addr().map_err(io("finding a free port"))?.port())
}

async fn wait_listening(port: u16, what: &str) -> Result<(), ClusterError> {
    let began = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if began.elapsed() > LISTEN_PATIENCE {
            return Err(ClusterError::NotListening(what.to_owned()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// A binary named on the command line, else found on the PATH, else the
/// first of `fallbacks` that exists (Debian puts haproxy in /usr/sbin, off a
/// user's PATH), else the bare name (its absence is reported when it starts).
pub fn find_binary(given: Option<&Path>, name: &str, fallbacks: &[&str]) -> PathBuf {
    if let Some(path) = given {
        return path.to_owned();
    }
    which::which(name)
        .ok()
        .or_else(|| fallbacks.iter().map(PathBuf::from).find(|path| path.is_file()))
        .unwrap_or_else(|| PathBuf::from(name))
}
