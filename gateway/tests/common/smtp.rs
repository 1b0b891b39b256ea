//! A real SMTP server on loopback for the email tests: aiosmtpd (PyPI, in
//! a virtual environment under `target/smtp/` that `tests/smtp/setup.sh`
//! makes once), writing every message it takes into a maildir. Killed when
//! the test lets go of it. Without Python the tests fail, loudly: they
//! never skip.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The environment's python, made once per test process.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    super::set_up(&PYTHON, "smtp/setup.sh", "the email tests need aiosmtpd")
}

/// A free port on 127.0.0.1 (free when asked; the server then takes it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("its address").port()
}

/// One running aiosmtpd.
pub struct SmtpSink {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl SmtpSink {
    /// Started on a free port, storing into a maildir inside `dir`.
    #[allow(dead_code)]
    pub fn start(dir: &Path) -> SmtpSink {
        Self::start_on(free_port(), dir)
    }

    /// Started on `port` (a relay that comes back where it was), storing into
    /// `dir/maildir` (kept across restarts).
    pub fn start_on(port: u16, dir: &Path) -> SmtpSink {
        let maildir = dir.join("maildir");
        let child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("aiosmtpd starts");
        let sink = SmtpSink { child, port, maildir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd listens on {port} in time");
            std::thread::sleep(Duration::from_millis(50));
        }
        sink
    }

    /// `127.0.0.1:PORT`, for `--smtp-relay`.
    pub fn relay(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    #[allow(dead_code)]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message received so far, oldest first, parsed.
    pub fn messages(&self) -> Vec<Mail> {
        parsed(&message_files(&self.maildir))
    }

    /// Waits until at least `count` messages arrived (30 s at most); returns them all.
    #[allow(dead_code)]
    pub fn wait_for(&self, count: usize) -> Vec<Mail> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let files = message_files(&self.maildir);
            if files.len() >= count {
                return parsed(&files);
            }
            assert!(Instant::now() < deadline, "{count} message(s) in time; got {}", files.len());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (SIGKILL), and waits for it.
    #[allow(dead_code)]
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A message as Python's `email` package reads it (`tests/smtp/parse.py`).
#[derive(Debug)]
pub struct Mail {
    /// Header names in lower case.
    pub headers: serde_json::Map<String, serde_json::Value>,
    /// The text part, decoded.
    pub text: String,
    /// Each attachment: `filename`, `content_type`, and `text` (text parts)
    /// or `size` and `starts` (the first bytes) for the others.
    pub attachments: Vec<serde_json::Value>,
}

impl Mail {
    #[allow(dead_code)]
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.as_str()).unwrap_or_default()
    }
}

/// The message files of a maildir (`new/` and `cur/`), oldest first.
fn message_files(maildir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
        .flatten()
        .filter_map(|entry| entry.ok())
        .map(|entry| (entry.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH), entry.path()))
        .collect();
    files.sort();
    files.into_iter().map(|(_, path)| path).collect()
}

fn parsed(files: &[PathBuf]) -> Vec<Mail> {
    if files.is_empty() {
        return Vec::new();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/parse.py");
    let output = Command::new(python()).arg(script).args(files).output().expect("python runs");
    assert!(output.status.success(), "parse.py: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).expect("JSON lines");
    text.lines()
        .map(|line| {
            let mut value: serde_json::Value = serde_json::from_str(line).expect("a parsed message");
            Mail {
                headers: value["headers"].as_object().cloned().unwrap_or_default(),
                text: value["text"].as_str().unwrap_or_default().to_owned(),
                attachments: value["attachments"].as_array_mut().map(std::mem::take).unwrap_or_default(),
            }
        })
        .collect()
}
