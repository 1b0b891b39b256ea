//! HAProxy in front of cluster nodes, configured with docs/haproxy.cfg
//! itself (its placeholders replaced), so the shipped configuration is the
//! one tested. Debian's package, installed by `tests/haproxy/setup.sh` if
//! missing. Killed when the test lets go of it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::smtp::free_port;

fn haproxy() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    super::set_up(&BINARY, "haproxy/setup.sh", "the cluster tests need haproxy")
}

pub struct Haproxy {
    child: Child,
    port: u16,
}

impl Haproxy {
    /// In front of the three node addresses (`127.0.0.1:PORT`), its
    /// configuration written into `dir`.
    pub fn start(dir: &Path, nodes: &[&str; 3]) -> Haproxy {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
        let template = std::fs::read_to_string(docs.join("haproxy.cfg")).expect("docs/haproxy.cfg reads");
        let port = free_port();
        let config = template
            .replace("${LISTEN}", &format!("127.0.0.1:{port}"))
            .replace("${ERRORFILE_503}", &docs.join("haproxy-503.http").display().to_string())
            .replace("${NODE_A}", nodes[0])
            .replace("${NODE_B}", nodes[1])
            .replace("${NODE_C}", nodes[2]);
        let live = config.lines().filter(|line| !line.trim_start().starts_with('#'));
        assert!(live.clone().all(|line| !line.contains("${")), "every placeholder is replaced");
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config).expect("the configuration is written");
        let check = Command::new(haproxy()).arg("-c").arg("-f").arg(&path).output().expect("haproxy runs");
        assert!(check.status.success(), "docs/haproxy.cfg is valid: {}", String::from_utf8_lossy(&check.stderr));
        let child = Command::new(haproxy())
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "haproxy listens in time");
            std::thread::sleep(Duration::from_millis(50));
        }
        Haproxy { child, port }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
