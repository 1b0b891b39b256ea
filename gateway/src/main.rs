//! `guichet`: the on-sale engine's command line: the HTTP server
//! (`guichet serve`), the demo (an in-process sell-out of the demo venue),
//! and the log tool for operators.

mod config;
mod demo;
mod http;
mod metrics;
mod server;
mod wal_tool;
mod watchdog;

use clap::{Parser, Subcommand};

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
    Serve(config::ServeArgs),
    /// Serves the demo event (Amphithéâtre Cogeco, 9,000 places) going on sale
    /// a minute after start; `--sell-out` races buyers in process instead.
    Demo(demo::DemoArgs),
    /// Reads a data directory's write-ahead log without changing it.
    #[command(subcommand)]
    Wal(wal_tool::WalCommand),
}

fn main() -> std::process::ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Wal(command) => wal_tool::run(&command),
    }
}

fn serve(args: &config::ServeArgs) -> std::process::ExitCode {
    serve_with(args, |_, _| {})
}

/// Runs the server; `then` runs once it listens (the demo creates its event there).
fn serve_with(args: &config::ServeArgs, then: impl FnOnce(std::net::SocketAddr, &http::App)) -> std::process::ExitCode {
    let config = match args.resolve() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("guichet serve: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = config.workers {
        builder.worker_threads(workers);
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("guichet serve: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let generated_token = config.admin_token.is_none();
    let served = runtime.block_on(server::serve(config, |address, app| {
        // Tools read this first line to find the port.
        println!("listening on http://{address}");
        if generated_token {
            println!("admin token: {}", app.admin_token);
        }
        then(address, app);
    }));
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("guichet serve: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(format: config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GUICHET_LOG").unwrap_or_else(|_| "info".into());
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colours);
    match format {
        config::LogFormat::Text => builder.init(),
        config::LogFormat::Json => builder.json().init(),
    }
}
