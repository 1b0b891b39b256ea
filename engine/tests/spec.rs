//! Validation of event specs: every problem reported, each with its field path.
mod common;
use common::*;
use guichet_engine::demo::demo_event;
use guichet_engine::layout::SectionKind;
use guichet_engine::spec::EventSpec;

fn problems(json: serde_json::Value) -> Vec<String> {
    match spec_from(json).validate() {
        Ok(_) => Vec::new(),
        Err(errors) => errors.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn the_small_spec_is_valid() {
    assert_eq!(problems(small_spec_json()), Vec::<String>::new());
}

#[test]
fn reports_every_problem_with_its_field_path() {
    let mut json = small_spec_json();
    json["sections"][0]["rows"][1]["seats"] = 0.into();
    json["sections"][1]["tier"] = "balcon".into();
    json["per_buyer_limit"] = 0.into();
    json["room"]["access_ttl_s"] = 86_401.into();
    json["currency"] = "cad".into();
    let found = problems(json);
    assert_eq!(
        found,
        vec![
            "currency must be an ISO 4217 code such as CAD",
            "sections[0].rows[1].seats must be at least 1",
            "sections[1].tier names tier \"balcon\", which is not in tiers",
            "per_buyer_limit must be at least 1",
            "room.access_ttl_s must be at most 86400",
        ]
    );
}

#[test]
fn on_sale_must_come_before_the_show() {
    let mut json = small_spec_json();
    json["on_sale_at"] = "2027-01-01T20:00:00Z".into();
    assert_eq!(problems(json), vec!["on_sale_at must be before starts_at"]);
}

#[test]
fn times_must_be_rfc3339() {
    let mut json = small_spec_json();
    json["starts_at"] = "next friday".into();
    assert_eq!(problems(json), vec!["starts_at must be an RFC 3339 instant such as 2026-12-05T15:00:00Z"]);
}

#[test]
fn a_section_has_rows_or_capacity_not_both() {
    let mut json = small_spec_json();
    json["sections"][2]["rows"] = serde_json::json!([{"id": "1", "seats": 2}]);
    let mut neither = small_spec_json();
    neither["sections"][2].as_object_mut().unwrap().remove("capacity");
    for broken in [json, neither] {
        assert_eq!(
            problems(broken),
            vec!["sections[2] must have either rows (reserved seating) or capacity (general admission)"]
        );
    }
}

#[test]
fn ids_are_checked_for_shape_and_uniqueness() {
    let mut json = small_spec_json();
    json["id"] = "no spaces allowed".into();
    json["sections"][1]["id"] = "A".into();
    json["sections"][0]["rows"][1]["id"] = "1".into();
    json["tiers"][2]["id"] = "loge".into();
    let found = problems(json);
    assert!(found.contains(&"id must be 1 to 64 characters from A-Z, a-z, 0-9, _ and -".to_string()), "{found:?}");
    assert!(found.contains(&"sections[1].id repeats an earlier section id".to_string()), "{found:?}");
    assert!(
        found.contains(&"sections[0].rows[1].id repeats an earlier row id in this section".to_string()),
        "{found:?}"
    );
    assert!(found.contains(&"tiers[2].id repeats an earlier tier id".to_string()), "{found:?}");
}

#[test]
fn seat_numbers_stay_within_the_named_limit() {
    let mut json = small_spec_json();
    json["sections"][0]["rows"][0]["first"] = 99_999.into();
    assert_eq!(
        problems(json),
        vec!["sections[0].rows[0].seats numbers seats up to 100002, past the highest seat number 99999"]
    );
}

#[test]
fn unknown_fields_are_rejected_at_every_depth() {
    let mut json = small_spec_json();
    json["sections"][0]["rows"][0]["colour"] = "red".into();
    let error = serde_json::from_value::<EventSpec>(json).unwrap_err();
    assert!(error.to_string().contains("unknown field `colour`"), "{error}");
}

#[test]
fn the_demo_venue_is_the_amphitheatre_cogeco() {
    let event = demo_event();
    let layout = &event.layout;
    assert_eq!(layout.capacity(), 9_000);
    let reserved: u64 = layout
        .sections
        .iter()
        .filter(|s| matches!(s.kind, SectionKind::Reserved { .. }))
        .flat_map(|s| s.shards.clone())
        .map(|shard| u64::from(layout.shards[shard as usize].capacity()))
        .sum();
    assert_eq!(reserved, 3_500);
    let loge = layout.tier_index("loge").unwrap();
    let loge_seats: u32 = layout.shards.iter().filter(|s| s.tier == loge).map(|s| s.capacity()).sum();
    assert_eq!(loge_seats, 200);
    assert_eq!(layout.tiers.len(), 3);
}

#[test]
fn a_payment_section_names_a_known_provider() {
    for provider in ["test", "stripe", "external"] {
        let mut json = small_spec_json();
        json["payment"] = serde_json::json!({ "provider": provider });
        assert_eq!(problems(json.clone()), Vec::<String>::new(), "{provider}");
        assert_eq!(spec_from(json).payment_provider().map(|p| p.name()), Some(provider));
    }
    let mut json = small_spec_json();
    json["payment"] = serde_json::json!({ "provider": "paypal" });
    assert_eq!(problems(json), vec!["payment.provider must be one of test, stripe, external"]);
    assert_eq!(spec_from(small_spec_json()).payment_provider(), None, "no section: sold as before");
}

#[test]
fn a_payment_section_takes_no_secrets() {
    let mut json = small_spec_json();
    json["payment"] = serde_json::json!({ "provider": "stripe", "secret_key": "sk_live_x" });
    assert!(serde_json::from_value::<EventSpec>(json).is_err());
}

#[test]
fn an_event_without_payment_serialises_as_before() {
    let text = serde_json::to_string(&spec_from(small_spec_json())).unwrap();
    assert!(!text.contains("payment"), "the logged spec of an unpaid event is unchanged");
}
