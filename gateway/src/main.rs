//! `guichet`: the on-sale engine's command line: the HTTP server
//! (`guichet serve`), the demo (an in-process sell-out of the demo venue),
//! the log tool, and the token tool for operators. Only the command line is parsed here;
//! the work is in this package's library (`src/lib.rs`).

use clap::{Parser, Subcommand};
use guichet::{backup_tool, config, demo, server, token_tool, wal_tool};

/// mimalloc rather than glibc's malloc: every request allocates and frees a
/// few small buffers (head, body, JSON), and with glibc that was about 7 % of
/// the server's time on the hold path (`_int_malloc`, `_int_free`,
/// `malloc_consolidate`); mimalloc's per-thread free lists make it a
/// fraction of that. See docs/performance.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "guichet", version, about = "Guichet: an on-sale engine for ticketing")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves the v1 HTTP API on a data directory.
    Serve(Box<config::ServeArgs>),
    /// Serves the demo event (Amphithéâtre Cogeco, 9,000 places) going on sale
    /// a minute after start; `--sell-out` races buyers in process instead.
    Demo(demo::DemoArgs),
    /// Reads a data directory's write-ahead log without changing it.
    #[command(subcommand)]
    Wal(wal_tool::WalCommand),
    /// Makes, lists and revokes staff and machine tokens on a running server.
    #[command(subcommand)]
    Token(token_tool::TokenCommand),
    /// Copies a data directory, while its server runs, into one that
    /// recovers to a consistent state; verifies the copy.
    Backup(backup_tool::BackupArgs),
}

fn main() -> std::process::ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => server::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Wal(command) => wal_tool::run(&command),
        Command::Token(command) => token_tool::run(&command),
        Command::Backup(args) => backup_tool::run(&args),
    }
}
