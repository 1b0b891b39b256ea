//! `guichet-loadtest`: replays on-sale spikes against a Guichet server over
//! real HTTP and audits the result. It arrives with the HTTP gateway; until
//! then it says so and exits.

fn main() -> std::process::ExitCode {
    eprintln!("guichet-loadtest: the HTTP gateway it drives is not built yet; see docs/ARCHITECTURE.md");
    std::process::ExitCode::from(2)
}
