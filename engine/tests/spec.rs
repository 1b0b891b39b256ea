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

/// The small venue drawn: sections A and B in straight rows, the lawn behind.
fn drawn_small_spec() -> serde_json::Value {
    let mut json = small_spec_json();
    json["hall"] =
        serde_json::json!({"width": 400, "height": 300, "stage": {"shape": [[100, 10], [300, 10], [200, 50]]}});
    json["sections"][0]["seating"] =
        serde_json::json!({"front": [120, 80], "angle_deg": 0, "seat_spacing": 10, "row_spacing": 12});
    json["sections"][1]["seating"] = serde_json::json!({"front": [280, 80], "angle_deg": 0, "seat_spacing": 10, "row_spacing": 12, "curve_radius": 200});
    json["sections"][2]["shape"] = serde_json::json!([[20, 200], [380, 200], [380, 290], [20, 290]]);
    json
}

#[test]
fn a_drawn_hall_is_valid_and_places_every_section() {
    assert_eq!(problems(drawn_small_spec()), Vec::<String>::new());
    let mut json = drawn_small_spec();
    json["sections"][0].as_object_mut().unwrap().remove("seating");
    json["sections"][2].as_object_mut().unwrap().remove("shape");
    json["sections"][2]["seating"] =
        serde_json::json!({"front": [1, 1], "angle_deg": 0, "seat_spacing": 1, "row_spacing": 1});
    assert_eq!(
        problems(json),
        vec![
            "sections[0].seating is required: the hall is drawn",
            "sections[2].seating is for reserved seating (rows) only",
        ]
    );
}

#[test]
fn geometry_out_of_the_hall_or_range_is_named() {
    let mut json = drawn_small_spec();
    json["hall"]["width"] = 5.into();
    json["hall"]["stage"]["shape"] = serde_json::json!([[100, 10], [300, 10]]);
    json["sections"][0]["seating"]["angle_deg"] = 360.into();
    json["sections"][1]["seating"]["front"] = serde_json::json!([395, 80]);
    json["sections"][2]["shape"][1] = serde_json::json!([380, 301]);
    assert_eq!(
        problems(json),
        vec![
            "hall.width must be 10 to 100000 units",
            "hall.stage.shape must have 3 to 64 points",
            "hall.stage.shape[0] must be inside the hall: x 0 to 5, y 0 to 300",
            "hall.stage.shape[1] must be inside the hall: x 0 to 5, y 0 to 300",
            "sections[0].seating.angle_deg must be 0 to 359",
            "sections[0].seating.front must be inside the hall: x 0 to 5, y 0 to 300",
            "sections[1].seating.front must be inside the hall: x 0 to 5, y 0 to 300",
            "sections[2].shape[0] must be inside the hall: x 0 to 5, y 0 to 300",
            "sections[2].shape[1] must be inside the hall: x 0 to 5, y 0 to 300",
            "sections[2].shape[2] must be inside the hall: x 0 to 5, y 0 to 300",
            "sections[2].shape[3] must be inside the hall: x 0 to 5, y 0 to 300",
        ]
    );
    let mut json = drawn_small_spec();
    json["sections"][1]["seating"]["front"] = serde_json::json!([395, 80]);
    assert_eq!(
        problems(json),
        vec!["sections[1].seating places row 1 seat 3 at (405, 80), outside the hall (400 by 300)"]
    );
}

#[test]
fn an_undrawn_hall_takes_no_section_geometry() {
    let mut json = small_spec_json();
    json["sections"][2]["shape"] = serde_json::json!([[20, 200], [380, 200], [380, 290]]);
    assert_eq!(problems(json), vec!["sections[2].shape needs a hall to be drawn in: give hall, or leave this out"]);
}

#[test]
fn accessible_and_companion_seats_are_seats_of_their_row_each_named_once() {
    let mut json = small_spec_json();
    json["sections"][0]["rows"][1]["accessible"] = serde_json::json!([101, 107]);
    json["sections"][0]["rows"][1]["companion"] = serde_json::json!([102, 101]);
    assert_eq!(
        problems(json),
        vec![
            "sections[0].rows[1].accessible[1] is seat 107, not in this row (101 to 106)",
            "sections[0].rows[1].companion[1] names seat 101 again",
        ]
    );
}

#[test]
fn the_demo_hall_flags_accessible_seats_with_companions_beside_them() {
    let event = demo_event();
    let flagged: usize =
        event.layout.shards.iter().filter(|s| (0..s.capacity() as u16).any(|o| s.is_flagged(o))).count();
    assert!(flagged >= 4, "{flagged} rows with flagged seats");
    assert!(event.spec.hall.is_some());
}
