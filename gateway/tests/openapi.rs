//! docs/openapi.yaml describes exactly the routes the server answers: every
//! (path, method) of the API's `ROUTES` and of the pages' `PAGE_ROUTES`
//! (GET only) is in the spec, and the spec has no other.
//!
//! The YAML is read as text, without a YAML crate: under the top-level
//! `paths:` key, a path is a key at indentation 2 (`  /v1/events:`) and its
//! operations are the method keys at indentation 4 beneath it (`    get:`).

use std::collections::BTreeSet;

use guichet::http::{page_routes, router};

const SPEC: &str = include_str!("../../docs/openapi.yaml");

/// The operation keys of an OpenAPI path item.
const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];
/// The other keys a path item may have.
const PATH_ITEM_FIELDS: &[&str] = &["$ref", "summary", "description", "servers", "parameters"];

/// Every (path, method) the spec describes, methods in lower case.
fn spec_operations(yaml: &str) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    let mut paths = BTreeSet::new();
    let mut in_paths = false;
    let mut found_paths = false;
    let mut path: Option<String> = None;
    for (index, line) in yaml.lines().enumerate() {
        let number = index + 1;
        let content = line.trim_start_matches(' ');
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let indent = line.len() - content.len();
        if indent == 0 {
            in_paths = content.trim_end() == "paths:";
            found_paths |= in_paths;
            path = None;
            continue;
        }
        if !in_paths {
            continue;
        }
        let key = || {
            let key = content.split_once(':').map(|(key, _)| key.trim()).unwrap_or_else(|| {
                panic!("line {number}: expected a key at indentation {indent} under `paths:`: {line:?}")
            });
            key.trim_matches(|c| c == '"' || c == '\'').to_owned()
        };
        match indent {
            2 => {
                let key = key();
                assert!(key.starts_with('/'), "line {number}: a path under `paths:` starts with `/`: {line:?}");
                assert!(paths.insert(key.clone()), "line {number}: path {key} is listed twice");
                path = Some(key);
            }
            4 => {
                let key = key();
                let path = path.as_ref().unwrap_or_else(|| panic!("line {number}: a key outside any path: {line:?}"));
                if METHODS.contains(&key.as_str()) {
                    assert!(
                        operations.insert((path.clone(), key.clone())),
                        "line {number}: {} {path} is listed twice",
                        key.to_uppercase()
                    );
                } else {
                    assert!(
                        PATH_ITEM_FIELDS.contains(&key.as_str()),
                        "line {number}: {key:?} under {path} is neither a method nor a path item field"
                    );
                }
            }
            _ => {}
        }
    }
    assert!(found_paths, "the spec has a top-level `paths:` key");
    operations
}

#[test]
fn the_spec_describes_every_route_and_method_of_the_router_and_no_other() {
    let routes: BTreeSet<(String, String)> = router::ROUTES
        .iter()
        .flat_map(|(_, path, methods)| methods.iter().map(|m| ((*path).to_owned(), m.as_str().to_lowercase())))
        .chain(page_routes::PAGE_ROUTES.iter().map(|path| ((*path).to_owned(), "get".to_owned())))
        .collect();
    let documented = spec_operations(SPEC);
    let missing: Vec<String> =
        routes.difference(&documented).map(|(path, method)| format!("{} {path}", method.to_uppercase())).collect();
    let extra: Vec<String> =
        documented.difference(&routes).map(|(path, method)| format!("{} {path}", method.to_uppercase())).collect();
    assert!(missing.is_empty(), "routes the router answers that docs/openapi.yaml does not describe: {missing:?}");
    assert!(extra.is_empty(), "operations in docs/openapi.yaml that the router does not answer: {extra:?}");
}

#[test]
fn the_reader_finds_paths_and_methods_and_skips_everything_else() {
    let yaml = "\
openapi: 3.1.0
info:
  title: x
  description: |
    /not/a/path:
      get:
paths:
  # a comment
  /a/{id}:
    parameters:
      - name: id
    get:
      description: |
        get:
    delete:
      summary: x
  '/b':
    post:
components:
  schemas:
    get:
";
    let found = spec_operations(yaml);
    let expected: BTreeSet<(String, String)> = [("/a/{id}", "get"), ("/a/{id}", "delete"), ("/b", "post")]
        .iter()
        .map(|(path, method)| ((*path).to_owned(), (*method).to_owned()))
        .collect();
    assert_eq!(found, expected);
}
