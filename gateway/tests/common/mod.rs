//! The `guichet` binary as the integration tests run it: `guichet serve` on
//! an ephemeral port of 127.0.0.1, with a data directory of the test's and
//! the admin token [`ADMIN`], killed when the test lets go of it. Each test
//! file speaks HTTP to it in its own way; what they share is here.

#[allow(dead_code)]
pub mod haproxy;
#[allow(dead_code)]
pub mod nats;
pub mod pdf;
/// The SMTP server the email tests send to (unused by the other tests).
#[allow(dead_code)]
pub mod smtp;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Runs a setup script of `tests/` (it installs what a test's server needs,
/// once) and answers the path it prints; fails the test, loudly, if it
/// cannot: the tests never skip. `cell` keeps the answer for the process.
#[allow(dead_code)]
pub fn set_up(cell: &'static std::sync::OnceLock<PathBuf>, script: &str, needs: &str) -> &'static Path {
    cell.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(script);
        let output = Command::new("bash").arg(&script).stderr(Stdio::inherit()).output().expect("bash runs");
        assert!(output.status.success(), "{} failed: {needs}", script.display());
        PathBuf::from(String::from_utf8(output.stdout).expect("a path").trim())
    })
}

/// The admin token every test server accepts.
pub const ADMIN: &str = "test-admin-token-0123456789";

/// A temporary directory and, inside it, a data directory the server
/// creates itself: (the directory to keep alive, the data directory).
#[allow(dead_code)]
pub fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    (dir, data)
}

/// How a server is started beyond its data directory.
pub struct Options<'a> {
    /// More arguments after `serve --listen … --data-dir …`.
    pub args: &'a [&'a str],
    /// `GUICHET_LOG`.
    pub log: &'a str,
    /// The server's stderr is dropped instead of shared with the test's.
    pub stderr_dropped: bool,
    /// Started through `sh` with SIGXFSZ ignored (an ignored signal stays
    /// ignored across exec), so a write past a lowered file-size limit
    /// fails with EFBIG instead of killing the process.
    pub sigxfsz_ignored: bool,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options { args: &[], log: "warn", stderr_dropped: false, sigxfsz_ignored: false }
    }
}

/// A running `guichet serve`; killed (SIGKILL) on drop.
pub struct Guichet {
    child: Child,
    /// `http://127.0.0.1:PORT`, as the server's first line says.
    base: String,
}

impl Guichet {
    /// Started with the default options and these extra arguments.
    #[allow(dead_code)]
    pub fn start(data_dir: &Path, args: &[&str]) -> Guichet {
        Self::start_with(data_dir, &Options { args, ..Options::default() })
    }

    /// Started as `options` say; returns once the server says where it listens.
    pub fn start_with(data_dir: &Path, options: &Options) -> Guichet {
        let mut command = if options.sigxfsz_ignored {
            let mut shell = Command::new("sh");
            shell.args(["-c", "trap '' XFSZ; exec \"$0\" \"$@\"", env!("CARGO_BIN_EXE_guichet")]);
            shell
        } else {
            Command::new(env!("CARGO_BIN_EXE_guichet"))
        };
        let stderr = if options.stderr_dropped { Stdio::null() } else { Stdio::inherit() };
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(options.args)
            .env("GUICHET_ADMIN_TOKEN", ADMIN)
            .env("GUICHET_LOG", options.log)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("the server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped")).read_line(&mut line).expect("a first line");
        let base = line.trim().strip_prefix("listening on ").expect("the server says where it listens").to_owned();
        Guichet { child, base }
    }

    /// `http://127.0.0.1:PORT`.
    #[allow(dead_code)]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `127.0.0.1:PORT`, for a socket of the test's own.
    pub fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server as an operator would (SIGTERM: it drains and takes
    /// a snapshot), and waits for it.
    #[allow(dead_code)]
    pub fn terminate(mut self) {
        let sent = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill runs");
        assert!(sent.success(), "SIGTERM is sent");
        let status = self.child.wait().expect("the server is reaped");
        assert!(status.success(), "a clean stop: {status}");
    }

    /// Sends `signal` (`STOP`, `CONT`...) to the server.
    #[allow(dead_code)]
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status();
        assert!(sent.expect("kill runs").success(), "SIG{signal} is sent");
    }

    /// The server's exit status, if it exits within `patience`.
    #[allow(dead_code)]
    pub fn exit_within(&mut self, patience: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + patience;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("the server is polled") {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }

    /// Stops the server as a crash would (SIGKILL), and waits for it.
    #[allow(dead_code)]
    pub fn kill(mut self) {
        self.child.kill().expect("the server is killed");
        self.child.wait().expect("the killed server is reaped");
    }
}

impl Drop for Guichet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One response read to the end of its connection.
#[allow(dead_code)]
pub struct Reply {
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    #[allow(dead_code)]
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    }
}

/// Sends `request` (a whole HTTP/1.1 request that says `Connection: close`)
/// on a connection of its own and reads the response to the end.
#[allow(dead_code)]
pub fn exchange(server: &Guichet, request: &str) -> Reply {
    let mut stream = std::net::TcpStream::connect(server.address()).expect("connects");
    stream.write_all(request.as_bytes()).expect("writes");
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).expect("reads");
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("a status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Reply { status, headers, body: bytes[split + 4..].to_vec() }
}
