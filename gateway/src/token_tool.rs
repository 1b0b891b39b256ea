//! `guichet token create|list|revoke`: staff and machine tokens, managed
//! through a running server's HTTP API with an admin token (an operator's
//! command: it changes nothing on disk itself, so the server logs who did
//! what). Plain HTTP: run it on the server's host, or through a tunnel.

use std::process::ExitCode;

use serde_json::{json, Value};

#[derive(clap::Args)]
pub struct Connection {
    /// The server's base URL.
    #[arg(long, env = "GUICHET_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// An admin token (the configured one, or an `admin` role token).
    #[arg(long, env = "GUICHET_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,
}

#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Makes a token and prints it (on stdout, alone): it is shown only once.
    Create {
        #[command(flatten)]
        connection: Connection,
        /// admin, promoter, door, viewer or shop.
        #[arg(long)]
        role: String,
        /// An event the token acts on (repeat for more; a door token takes one).
        #[arg(long = "event")]
        events: Vec<String>,
        /// Who or what holds it, for the list.
        #[arg(long)]
        label: String,
        /// When it stops working (RFC 3339).
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// Lists every token, without secrets.
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// Revokes a token by its id (`t12`): it stops working at once.
    Revoke {
        #[command(flatten)]
        connection: Connection,
        token_id: String,
    },
}

pub fn run(command: &TokenCommand) -> ExitCode {
    let outcome = match command {
        TokenCommand::Create { connection, role, events, label, expires_at } => {
            let mut body = json!({ "role": role, "label": label });
            if !events.is_empty() {
                body["events"] = json!(events);
            }
            if let Some(at) = expires_at {
                body["expires_at"] = json!(at);
            }
            send(connection, "POST", "/v1/tokens", Some(body)).map(|made| {
                eprintln!("made {} ({}); keep the token now, it is not shown again", made["token_id"], made["role"]);
                println!("{}", made["token"].as_str().unwrap_or_default());
            })
        }
        TokenCommand::List { connection } => send(connection, "GET", "/v1/tokens", None).map(|list| print_list(&list)),
        TokenCommand::Revoke { connection, token_id } => {
            send(connection, "DELETE", &format!("/v1/tokens/{token_id}"), None).map(|_| println!("revoked {token_id}"))
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn print_list(list: &Value) {
    println!("{:<6} {:<9} {:<24} {:<22} {:<21} {:<21} label", "id", "role", "events", "created", "expires", "revoked");
    let empty = Vec::new();
    for token in list["tokens"].as_array().unwrap_or(&empty) {
        let text = |key: &str| token[key].as_str().unwrap_or("-").to_owned();
        let events: Vec<&str> = token["events"].as_array().unwrap_or(&empty).iter().filter_map(Value::as_str).collect();
        println!(
            "{:<6} {:<9} {:<24} {:<22} {:<21} {:<21} {}",
            text("token_id"),
            text("role"),
            if events.is_empty() { "-".to_owned() } else { events.join(",") },
            text("created_at"),
            text("expires_at"),
            text("revoked_at"),
            text("label")
        );
    }
}

/// One call; the answer's JSON, or the error's code and message.
fn send(connection: &Connection, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
    let url = format!("{}{path}", connection.server.trim_end_matches('/'));
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = ureq::http::Request::builder()
        .method(method)
        .uri(&url)
        .header("Authorization", format!("Bearer {}", connection.admin_token));
    if body.is_some() {
        request = request.header("Content-Type", "application/json");
    }
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    let request = request.body(text).map_err(|e| format!("{url}: {e}"))?;
    let mut response = agent.run(request).map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    let answer = response.body_mut().read_to_string().map_err(|e| format!("{url}: {e}"))?;
    let json: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
    if status.is_success() {
        Ok(json)
    } else {
        let error = &json["error"];
        Err(format!("{method} {url}: {status}: {} ({})", error["message"], error["code"]))
    }
}
