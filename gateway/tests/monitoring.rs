//! The Grafana dashboard and the Prometheus alert rules in docs/monitoring
//! use only metrics the server exposes: every `guichet_*` name they query is
//! in `/metrics` of a server with an event. (`promtool` checks the rules'
//! syntax and behaviour in CI.)

mod common;

use std::collections::BTreeSet;

use common::{data_dir, exchange, Guichet, ADMIN};

const DASHBOARD: &str = include_str!("../../docs/monitoring/grafana-dashboard.json");
const ALERTS: &str = include_str!("../../docs/monitoring/alerts.yml");
const DEMO: &str = include_str!("../../docs/examples/celine-dion-trois-rivieres.json");

/// Metrics that have no series until something happens (a vector whose
/// labels come from the event): each with what makes it appear.
const ONLY_ONCE_SEEN: &[(&str, &str)] = &[("guichet_webhook_rejected_total", "a payment webhook refused")];

fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(found) = text[at..].find("guichet_") {
        let start = at + found;
        let end = (start..bytes.len())
            .find(|&i| !(bytes[i].is_ascii_lowercase() || bytes[i] == b'_' || bytes[i].is_ascii_digit()))
            .unwrap_or(bytes.len());
        let name = &text[start..end];
        let base = ["_bucket", "_sum", "_count"].iter().fold(name, |n, suffix| n.strip_suffix(suffix).unwrap_or(n));
        names.insert(base.to_owned());
        at = end;
    }
    names
}

#[test]
fn the_dashboard_and_the_alerts_query_only_metrics_the_server_exposes() {
    let (_dir, data) = data_dir();
    let server = Guichet::start(&data, &[]);
    let spec = DEMO.replace("2026-12-05T15:00:00Z", "2026-01-01T00:00:00Z");
    let create = format!(
        "POST /v1/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{spec}",
        spec.len()
    );
    assert_eq!(exchange(&server, &create).status, 201);
    let metrics = exchange(&server, "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8_lossy(&metrics.body);
    for line in [
        r#"guichet_room_max_active{event="celine-dion-trois-rivieres"} 1000"#,
        r#"guichet_room_paused{event="celine-dion-trois-rivieres"} 0"#,
        r#"guichet_revenue_cents{event="celine-dion-trois-rivieres"} 0"#,
        r#"guichet_holds_expired_total{event="celine-dion-trois-rivieres"} 0"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    let exposed: BTreeSet<String> = text.lines().filter(|line| !line.starts_with('#')).flat_map(names_in).collect();
    let queried: BTreeSet<String> = names_in(DASHBOARD).into_iter().chain(names_in(ALERTS)).collect();
    assert!(queried.len() > 20, "{queried:?}");
    let missing: Vec<&String> = queried
        .iter()
        .filter(|name| !exposed.contains(*name) && !ONLY_ONCE_SEEN.iter().any(|(seen, _)| seen == name))
        .collect();
    assert!(missing.is_empty(), "queried but not exposed: {missing:?}");
}
