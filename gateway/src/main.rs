//! `guichet`: the on-sale engine's command line. For now it carries the demo,
//! an in-process sell-out of the demo venue; the HTTP server arrives as
//! `guichet serve`.

mod demo;

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
}

fn main() -> std::process::ExitCode {
    match Cli::parse().command {
        Command::Demo(args) => demo::run(&args),
    }
}
