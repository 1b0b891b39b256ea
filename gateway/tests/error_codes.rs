//! The error-code table in docs/api.md is the catalogue clients branch on: it
//! must list exactly the codes the code can send, each with the status the
//! gateway sends it with. Codes come from two places only: the engine's
//! `code()` functions, and the gateway's `ApiError` constructors for
//! refusals of its own (routing, bodies, tokens, limits). This test reads
//! both from the source, so a new code cannot ship undocumented, and a
//! documented code cannot outlive the code that sent it. For the gateway's
//! own codes it also checks the status; engine codes get theirs in
//! `http/error.rs`, which the HTTP tests reach.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use regex::Regex;

const API_DOC: &str = include_str!("../../docs/api.md");
const OPENAPI: &str = include_str!("../../docs/openapi.yaml");

/// Engine codes no route can reach yet, and why.
const NO_ROUTE_YET: &[(&str, &str)] = &[
    ("not_blocked", "blocking and unblocking places is an engine operation with no HTTP route yet"),
    ("not_general_admission", "only blocking a count of places names a section without seats"),
];

/// `code -> status` from the "## Error codes" table.
fn documented() -> BTreeMap<String, u16> {
    let section = API_DOC.split("## Error codes").nth(1).expect("docs/api.md has an Error codes section");
    let row = Regex::new(r"(?m)^\| `([a-z_]+)` \| (\d{3}) \|").expect("row pattern");
    let mut table = BTreeMap::new();
    for found in row.captures_iter(section.split("\n## ").next().unwrap_or(section)) {
        let status: u16 = found[2].parse().expect("three digits");
        let earlier = table.insert(found[1].to_owned(), status);
        assert!(earlier.is_none(), "docs/api.md lists `{}` twice", &found[1]);
    }
    table
}

fn sources(under: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(under);
    let mut files = Vec::new();
    let mut pending = vec![root];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("source directory reads") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = fs::read_to_string(&path).expect("source file reads");
                // Inline test modules come last in a file and send nothing.
                let code = text.split("#[cfg(test)]").next().unwrap_or_default().to_owned();
                files.push((path, code));
            }
        }
    }
    files
}

/// Every string literal the `code()` of an engine error type can return (other
/// types' `code()`, such as a stall reason's, name things that are not errors).
fn engine_codes() -> BTreeSet<String> {
    let function = Regex::new(r#"(?s)\nimpl (\w+) \{\n(?:(?:[^}\n][^\n]*)?\n)*?    pub fn code\((?:&)?self\) -> &'static str \{(.*?)\n    \}"#)
        .expect("fn pattern");
    let literal = Regex::new(r#""([a-z_]+)""#).expect("literal pattern");
    let mut codes = BTreeSet::new();
    for (_, text) in sources("engine/src") {
        for found in function.captures_iter(&text).filter(|found| found[1].ends_with("Error")) {
            codes.extend(literal.captures_iter(&found[2]).map(|literal| literal[1].to_owned()));
        }
    }
    for (code, _) in NO_ROUTE_YET {
        assert!(codes.remove(*code), "`{code}` is no longer an engine code: drop it from NO_ROUTE_YET");
    }
    codes
}

/// `code -> statuses` of the gateway's own refusals: the literal code given to an
/// `ApiError` constructor, and the status that constructor (or its first argument) sets.
fn gateway_codes() -> BTreeMap<String, BTreeSet<u16>> {
    let call = Regex::new(
        r#"ApiError::(new|bad_request|not_found|unauthorized|forbidden|unavailable)\(\s*(?:StatusCode::([A-Z_]+)\s*,\s*)?"([a-z_]+)""#,
    )
    .expect("call pattern");
    // A request over its budget: `within_budget(.., "code")` answers 429.
    let budget = Regex::new(r#"within_budget\([^;]*?"([a-z_]+)"\)"#).expect("budget pattern");
    let mut codes: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    for (path, text) in sources("gateway/src") {
        for found in budget.captures_iter(&text) {
            codes.entry(found[1].to_owned()).or_default().insert(429);
        }
        for found in call.captures_iter(&text) {
            let status = match (&found[1], found.get(2).map(|m| m.as_str())) {
                ("bad_request", _) => 400,
                ("unauthorized", _) => 401,
                ("forbidden", _) => 403,
                ("not_found", _) => 404,
                ("unavailable", _) => 503,
                ("new", Some(name)) => status_named(name),
                other => panic!("{}: an ApiError call the test cannot read: {other:?}", path.display()),
            };
            codes.entry(found[3].to_owned()).or_default().insert(status);
        }
    }
    codes
}

fn status_named(name: &str) -> u16 {
    match name {
        "BAD_REQUEST" => 400,
        "UNAUTHORIZED" => 401,
        "FORBIDDEN" => 403,
        "NOT_FOUND" => 404,
        "METHOD_NOT_ALLOWED" => 405,
        "CONFLICT" => 409,
        "GONE" => 410,
        "PAYLOAD_TOO_LARGE" => 413,
        "UNSUPPORTED_MEDIA_TYPE" => 415,
        "UNPROCESSABLE_ENTITY" => 422,
        "TOO_MANY_REQUESTS" => 429,
        "INTERNAL_SERVER_ERROR" => 500,
        "BAD_GATEWAY" => 502,
        "SERVICE_UNAVAILABLE" => 503,
        other => panic!("add StatusCode::{other} to the test's table"),
    }
}

#[test]
fn the_documented_codes_are_exactly_those_the_code_can_send() {
    let table = documented();
    let engine = engine_codes();
    let gateway = gateway_codes();
    assert!(engine.len() > 20 && gateway.len() > 10, "the source scan found too little: {engine:?} {gateway:?}");
    let emitted: BTreeSet<&String> = engine.iter().chain(gateway.keys()).collect();
    let undocumented: Vec<_> = emitted.iter().filter(|code| !table.contains_key(code.as_str())).collect();
    assert!(undocumented.is_empty(), "sent but not in docs/api.md's table: {undocumented:?}");
    let unsent: Vec<_> = table.keys().filter(|code| !emitted.contains(code)).collect();
    assert!(unsent.is_empty(), "in docs/api.md's table but sent by no code: {unsent:?}");
}

#[test]
fn the_gateway_sends_its_own_codes_with_the_documented_status() {
    let table = documented();
    for (code, statuses) in gateway_codes() {
        let documented = table.get(&code).copied();
        assert_eq!(
            statuses.iter().copied().collect::<Vec<_>>(),
            documented.into_iter().collect::<Vec<_>>(),
            "`{code}` is sent with {statuses:?}, docs/api.md says {documented:?}"
        );
    }
}

/// The `ErrorCode` enum of docs/openapi.yaml (what clients generated from
/// it accept, and what the schema fuzzing checks answers against).
fn openapi_codes() -> BTreeSet<String> {
    let schema = OPENAPI.split("\n    ErrorCode:\n").nth(1).expect("docs/openapi.yaml has an ErrorCode schema");
    let list = schema.split("enum:\n").nth(1).expect("ErrorCode has an enum");
    list.lines().map_while(|line| line.strip_prefix("        - ")).map(|code| code.trim().to_owned()).collect()
}

#[test]
fn the_openapi_error_code_enum_is_the_documented_table() {
    let table: BTreeSet<String> = documented().into_keys().collect();
    let openapi = openapi_codes();
    let missing: Vec<_> = table.difference(&openapi).collect();
    let extra: Vec<_> = openapi.difference(&table).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "ErrorCode in docs/openapi.yaml lacks {missing:?} and has {extra:?} beyond docs/api.md's table"
    );
}
