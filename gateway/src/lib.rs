//! The gateway as a library: everything the `guichet` binary runs (the HTTP
//! server, the demo, the log tool), so `main.rs` only parses the command
//! line, and the tests read the route tables from here.

pub mod config;
pub mod demo;
pub mod http;
mod metrics;
mod server;
pub mod wal_tool;
mod watchdog;

/// `guichet serve`: runs the server until a signal.
pub fn serve(args: &config::ServeArgs) -> std::process::ExitCode {
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
