//! `guichet`: the on-sale engine's command line: the demo (an in-process
//! sell-out of the demo venue) and the log tool for operators. The HTTP server
//! arrives as `guichet serve`.

mod demo;
mod wal_tool;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "guichet", version, about = "Guichet: an on-sale engine for ticketing")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sells out the demo venue (Amphithéâtre Cogeco, 9,000 places) in process,
    /// with many buyers racing on every core, and audits the result.
    Demo(demo::DemoArgs),
    /// Reads a data directory's write-ahead log without changing it.
    #[command(subcommand)]
    Wal(wal_tool::WalCommand),
}

fn main() -> std::process::ExitCode {
    match Cli::parse().command {
        Command::Demo(args) => demo::run(&args),
        Command::Wal(command) => wal_tool::run(&command),
    }
}
