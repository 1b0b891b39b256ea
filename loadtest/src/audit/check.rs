//! What one check of the audit is, and the helpers every theme of checks
//! shares: reading an order's tickets, and summing up what went wrong.

use serde::Serialize;
use serde_json::Value;

/// One verdict of the audit, as the report shows it.
#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// An order's tickets (none if the list is missing).
pub fn tickets(order: &Value) -> &[Value] {
    order["tickets"].as_array().map_or(&[], Vec::as_slice)
}

/// The first few problems, and how many more.
pub fn summarise(problems: &[String]) -> String {
    let shown: Vec<&str> = problems.iter().take(5).map(String::as_str).collect();
    let more = problems.len().saturating_sub(shown.len());
    let mut text = shown.join("; ");
    if more > 0 {
        text.push_str(&format!("; and {more} more"));
    }
    text
}
