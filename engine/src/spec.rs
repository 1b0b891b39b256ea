//! The event as a promoter describes it (the `POST /v1/events` body), and its
//! validation. Validation reports every problem at once, each with the path of
//! the field (`sections[3].rows[0].seats must be at least 1`); it never panics.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::hall::{check_hall, check_seating, check_shape, HallSpec, Point, SeatingSpec};
use crate::ids::is_valid_public_id;
use crate::limits::*;
use crate::time::UnixTimeMs;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    pub id: String,
    pub name: String,
    pub venue: String,
    pub starts_at: String,
    pub on_sale_at: String,
    /// Until this instant buyers may cancel their own orders; absent: only the
    /// promoter can cancel.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::json_fields::present")]
    pub refund_until: Option<String>,
    pub currency: String,
    pub tiers: Vec<TierSpec>,
    pub sections: Vec<SectionSpec>,
    #[serde(deserialize_with = "crate::json_fields::integer")]
    pub per_buyer_limit: u32,
    #[serde(deserialize_with = "crate::json_fields::integer")]
    pub hold_ttl_s: u32,
    pub room: RoomSpec,
    /// Who takes the money; absent: purchases carry the client's own
    /// `payment_ref`, as for free events and invitations. Never secrets:
    /// those come from the server's configuration.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::json_fields::present")]
    pub payment: Option<PaymentSpec>,
    /// The venue drawn (see [`crate::hall`]); absent, the map is laid out
    /// plainly from the sections.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::json_fields::present")]
    pub hall: Option<HallSpec>,
}

/// The `payment` section: which provider confirms this event's payments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentSpec {
    /// `test`, `stripe` or `external` (see [`ProviderKind`]).
    pub provider: String,
}

/// The payment providers an event may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProviderKind {
    /// The demo: a test payment page confirms at once; no money moves.
    Test,
    /// A Stripe-compatible provider: payment intents and signed webhooks.
    Stripe,
    /// A trusted shop took the money itself and confirms with a `shop` token.
    External,
}

impl ProviderKind {
    pub const NAMES: [&'static str; 3] = ["test", "stripe", "external"];

    pub fn parse(name: &str) -> Option<ProviderKind> {
        match name {
            "test" => Some(ProviderKind::Test),
            "stripe" => Some(ProviderKind::Stripe),
            "external" => Some(ProviderKind::External),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Test => "test",
            ProviderKind::Stripe => "stripe",
            ProviderKind::External => "external",
        }
    }
}

impl EventSpec {
    /// The provider this event's payments go through; `None` for an event
    /// sold as before (purchases with the client's `payment_ref`).
    pub fn payment_provider(&self) -> Option<ProviderKind> {
        self.payment.as_ref().and_then(|payment| ProviderKind::parse(&payment.provider))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierSpec {
    pub id: String,
    pub name: String,
    #[serde(deserialize_with = "crate::json_fields::integer")]
    pub price_cents: u64,
}

/// Reserved seating (`rows`) or general admission (`capacity`): exactly one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionSpec {
    pub id: String,
    pub name: String,
    pub tier: String,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::json_fields::present")]
    pub rows: Option<Vec<RowSpec>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::json_fields::present_integer"
    )]
    pub capacity: Option<u32>,
    /// Its outline in the drawn hall: a general-admission section is drawn
    /// as this; a reserved one's outline follows its seats when absent.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::json_fields::present")]
    pub shape: Option<Vec<Point>>,
    /// Where a reserved section's rows stand in the drawn hall.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::json_fields::present")]
    pub seating: Option<SeatingSpec>,
}

/// A row, listed front (closest to the stage) to back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowSpec {
    pub id: String,
    #[serde(deserialize_with = "crate::json_fields::integer")]
    pub seats: u32,
    /// Number of the first seat; seats are `first ..= first + seats - 1`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::json_fields::present_integer"
    )]
    pub first: Option<u32>,
    /// Overrides the section's tier for this row.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::json_fields::present")]
    pub tier: Option<String>,
    /// Seat numbers with room for a wheelchair; best available hands them
    /// (and `companion` seats) out only when asked for accessible seats.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::json_fields::present_integers"
    )]
    pub accessible: Option<Vec<u32>>,
    /// Seat numbers kept beside accessible ones for a companion.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::json_fields::present_integers"
    )]
    pub companion: Option<Vec<u32>>,
}

impl RowSpec {
    /// The row's seat numbers flagged accessible or companion.
    pub fn flagged_numbers(&self) -> impl Iterator<Item = u32> + '_ {
        self.accessible.iter().chain(&self.companion).flatten().copied()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomSpec {
    #[serde(deserialize_with = "crate::json_fields::integer")]
    pub admit_per_minute: u32,
    #[serde(deserialize_with = "crate::json_fields::integer")]
    pub max_active: u32,
    #[serde(deserialize_with = "crate::json_fields::integer")]
    pub access_ttl_s: u32,
}

/// One problem with a spec: which field, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.message)
    }
}

/// Every problem found in a spec, in the order of its fields.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid event: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
pub struct SpecErrors(pub Vec<FieldError>);

/// Why `value` is outside `min..=max`, in the words of every range check
/// (the spec's, and a room settings change's).
pub fn out_of_range(value: u32, min: u32, max: u32) -> Option<String> {
    if value < min {
        Some(format!("must be at least {min}"))
    } else if value > max {
        Some(format!("must be at most {max}"))
    } else {
        None
    }
}

/// The instants of a spec that passed its checks, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecTimes {
    pub starts_at: UnixTimeMs,
    pub on_sale_at: UnixTimeMs,
    pub refund_until: Option<UnixTimeMs>,
}

impl EventSpec {
    /// Checks every field and reports every problem. `EventSpec::validate`
    /// (in [`crate::valid`]) adds the compiled venue on success.
    pub fn check(&self) -> Result<SpecTimes, SpecErrors> {
        let mut check = Checker::default();
        self.check_header(&mut check);
        let times = self.check_times(&mut check);
        let tier_ids = self.check_tiers(&mut check);
        self.check_sections(&mut check, &tier_ids);
        self.check_settings(&mut check);
        self.check_drawing(&mut check);
        match (check.errors.is_empty(), times) {
            (true, Some((starts_at, on_sale_at, refund_until))) => {
                Ok(SpecTimes { starts_at, on_sale_at, refund_until })
            }
            _ => Err(SpecErrors(check.errors)),
        }
    }

    fn check_header(&self, check: &mut Checker) {
        check.public_id("id", &self.id);
        check.name("name", &self.name);
        check.name("venue", &self.venue);
        let is_iso_4217_shaped = self.currency.len() == 3 && self.currency.bytes().all(|b| b.is_ascii_uppercase());
        check.require(is_iso_4217_shaped, "currency", "must be an ISO 4217 code such as CAD");
    }

    fn check_times(&self, check: &mut Checker) -> Option<(UnixTimeMs, UnixTimeMs, Option<UnixTimeMs>)> {
        let starts_at = check.instant("starts_at", &self.starts_at);
        let on_sale_at = check.instant("on_sale_at", &self.on_sale_at);
        let refund_until = match &self.refund_until {
            Some(text) => Some(check.instant("refund_until", text)?),
            None => None,
        };
        let (starts_at, on_sale_at) = (starts_at?, on_sale_at?);
        check.require(on_sale_at < starts_at, "on_sale_at", "must be before starts_at");
        Some((starts_at, on_sale_at, refund_until))
    }

    fn check_tiers(&self, check: &mut Checker) -> HashSet<&str> {
        check.count("tiers", self.tiers.len(), MAX_TIERS_PER_EVENT);
        let mut ids = HashSet::new();
        for (i, tier) in self.tiers.iter().enumerate() {
            let field = format!("tiers[{i}]");
            check.public_id(&format!("{field}.id"), &tier.id);
            check.require(ids.insert(tier.id.as_str()), &format!("{field}.id"), "repeats an earlier tier id");
            check.name(&format!("{field}.name"), &tier.name);
            check.at_most(&format!("{field}.price_cents"), tier.price_cents, MAX_PRICE_CENTS);
        }
        ids
    }

    fn check_sections(&self, check: &mut Checker, tier_ids: &HashSet<&str>) {
        check.count("sections", self.sections.len(), MAX_SECTIONS_PER_EVENT);
        let mut ids = HashSet::new();
        let mut reserved_seats = 0u64;
        for (i, section) in self.sections.iter().enumerate() {
            let field = format!("sections[{i}]");
            check.public_id(&format!("{field}.id"), &section.id);
            check.require(ids.insert(section.id.as_str()), &format!("{field}.id"), "repeats an earlier section id");
            check.name(&format!("{field}.name"), &section.name);
            check.tier_ref(&format!("{field}.tier"), &section.tier, tier_ids);
            match (&section.rows, section.capacity) {
                (Some(rows), None) => reserved_seats += check_rows(check, &field, rows, tier_ids),
                (None, Some(capacity)) => check.in_range(&format!("{field}.capacity"), capacity, 1, MAX_GA_CAPACITY),
                _ => check.fail(&field, "must have either rows (reserved seating) or capacity (general admission)"),
            }
        }
        check.require(
            reserved_seats <= u64::from(MAX_RESERVED_SEATS_PER_EVENT),
            "sections",
            &format!("must hold at most {MAX_RESERVED_SEATS_PER_EVENT} reserved seats in all"),
        );
    }

    /// The hall and every section's place in it: a drawn hall places every
    /// section; without one, no section has a place.
    fn check_drawing(&self, check: &mut Checker) {
        let Some(hall) = &self.hall else {
            for (i, section) in self.sections.iter().enumerate() {
                let message = "needs a hall to be drawn in: give hall, or leave this out";
                check.require(section.shape.is_none(), &format!("sections[{i}].shape"), message);
                check.require(section.seating.is_none(), &format!("sections[{i}].seating"), message);
            }
            return;
        };
        // Placing every seat costs as many as the spec has: only once the
        // rest is sound, and so bounded by the limits checked already.
        let place_seats = check.errors.is_empty();
        check.problems(check_hall(hall));
        if let Some(stage) = &hall.stage {
            if let Some(label) = &stage.label {
                check.name("hall.stage.label", label);
            }
        }
        for (i, section) in self.sections.iter().enumerate() {
            let field = format!("sections[{i}]");
            if let Some(shape) = &section.shape {
                check.problems(check_shape(hall, &format!("{field}.shape"), shape));
            }
            match (&section.rows, &section.seating) {
                (Some(rows), Some(seating)) => {
                    let rows: Vec<_> = rows
                        .iter()
                        .map(|row| (row.id.as_str(), row.first.unwrap_or(1), row.seats.min(MAX_SEATS_PER_ROW)))
                        .collect();
                    check.problems(check_seating(hall, &format!("{field}.seating"), seating, &rows, place_seats));
                }
                (Some(_), None) => check.fail(&format!("{field}.seating"), "is required: the hall is drawn"),
                (None, Some(_)) => check.fail(&format!("{field}.seating"), "is for reserved seating (rows) only"),
                (None, None) => {
                    let drawn = section.shape.is_some();
                    check.require(drawn, &format!("{field}.shape"), "is required: the hall is drawn");
                }
            }
        }
    }

    fn check_settings(&self, check: &mut Checker) {
        check.in_range("per_buyer_limit", self.per_buyer_limit, MIN_PER_BUYER_LIMIT, MAX_PER_BUYER_LIMIT);
        check.in_range("hold_ttl_s", self.hold_ttl_s, MIN_TTL_S, MAX_TTL_S);
        check.in_range("room.admit_per_minute", self.room.admit_per_minute, MIN_ADMIT_PER_MINUTE, MAX_ADMIT_PER_MINUTE);
        check.in_range("room.max_active", self.room.max_active, MIN_MAX_ACTIVE, MAX_MAX_ACTIVE);
        check.in_range("room.access_ttl_s", self.room.access_ttl_s, MIN_TTL_S, MAX_TTL_S);
        if let Some(payment) = &self.payment {
            let names = ProviderKind::NAMES.join(", ");
            let known = ProviderKind::parse(&payment.provider).is_some();
            check.require(known, "payment.provider", &format!("must be one of {names}"));
        }
    }
}

/// Checks a section's rows; returns how many seats they hold.
fn check_rows(check: &mut Checker, section_field: &str, rows: &[RowSpec], tier_ids: &HashSet<&str>) -> u64 {
    let field = format!("{section_field}.rows");
    check.count(&field, rows.len(), MAX_ROWS_PER_SECTION);
    let mut ids = HashSet::new();
    let mut seats = 0u64;
    for (j, row) in rows.iter().enumerate() {
        let field = format!("{field}[{j}]");
        check.public_id(&format!("{field}.id"), &row.id);
        check.require(ids.insert(row.id.as_str()), &format!("{field}.id"), "repeats an earlier row id in this section");
        check.in_range(&format!("{field}.seats"), row.seats, 1, MAX_SEATS_PER_ROW);
        let first = row.first.unwrap_or(1);
        check.in_range(&format!("{field}.first"), first, 1, MAX_SEAT_NUMBER);
        let last = u64::from(first) + u64::from(row.seats.max(1)) - 1;
        check.require(
            last <= u64::from(MAX_SEAT_NUMBER),
            &format!("{field}.seats"),
            &format!("numbers seats up to {last}, past the highest seat number {MAX_SEAT_NUMBER}"),
        );
        if let Some(tier) = &row.tier {
            check.tier_ref(&format!("{field}.tier"), tier, tier_ids);
        }
        check_flags(check, &field, row, first..=last.min(u64::from(MAX_SEAT_NUMBER)) as u32);
        seats += u64::from(row.seats);
    }
    seats
}

/// A row's accessible and companion seats: its own numbers, each once.
fn check_flags(check: &mut Checker, row_field: &str, row: &RowSpec, numbers: std::ops::RangeInclusive<u32>) {
    let mut seen = HashSet::new();
    for (part, list) in [("accessible", &row.accessible), ("companion", &row.companion)] {
        for (k, number) in list.iter().flatten().enumerate() {
            let field = format!("{row_field}.{part}[{k}]");
            if !numbers.contains(number) {
                let message = format!("is seat {number}, not in this row ({} to {})", numbers.start(), numbers.end());
                check.fail(&field, &message);
            } else if !seen.insert(*number) {
                check.fail(&field, &format!("names seat {number} again"));
            }
        }
    }
}

/// Collects field errors; each helper checks one kind of rule.
#[derive(Default)]
struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn fail(&mut self, field: &str, message: &str) {
        self.errors.push(FieldError { field: field.to_owned(), message: message.to_owned() });
    }

    fn problems(&mut self, problems: Vec<(String, String)>) {
        self.errors.extend(problems.into_iter().map(|(field, message)| FieldError { field, message }));
    }

    fn require(&mut self, ok: bool, field: &str, message: &str) {
        if !ok {
            self.fail(field, message);
        }
    }

    fn public_id(&mut self, field: &str, id: &str) {
        self.require(
            is_valid_public_id(id),
            field,
            &format!("must be 1 to {MAX_PUBLIC_ID_LEN} characters from A-Z, a-z, 0-9, _ and -"),
        );
    }

    fn name(&mut self, field: &str, name: &str) {
        let chars = name.chars().count();
        let ok =
            (1..=MAX_NAME_CHARS).contains(&chars) && !name.trim().is_empty() && !name.chars().any(char::is_control);
        self.require(ok, field, &format!("must be 1 to {MAX_NAME_CHARS} characters of text, not blank"));
    }

    fn instant(&mut self, field: &str, text: &str) -> Option<UnixTimeMs> {
        UnixTimeMs::parse_rfc3339(text).map_err(|error| self.fail(field, &error.to_string())).ok()
    }

    fn count(&mut self, field: &str, count: usize, max: usize) {
        self.require(count >= 1, field, "must not be empty");
        self.require(count <= max, field, &format!("must have at most {max} entries"));
    }

    fn in_range(&mut self, field: &str, value: u32, min: u32, max: u32) {
        if let Some(why) = out_of_range(value, min, max) {
            self.fail(field, &why);
        }
    }

    fn at_most(&mut self, field: &str, value: u64, max: u64) {
        self.require(value <= max, field, &format!("must be at most {max}"));
    }

    fn tier_ref(&mut self, field: &str, tier: &str, tier_ids: &HashSet<&str>) {
        self.require(tier_ids.contains(tier), field, &format!("names tier {tier:?}, which is not in tiers"));
    }
}
