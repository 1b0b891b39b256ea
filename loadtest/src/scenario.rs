//! A load-test scenario: the event on sale, its admission settings, when the
//! virtual buyers arrive and how they behave, read from TOML (a file or a preset
//! shipped in the binary) and checked before anything is sent.

use std::path::{Path, PathBuf};

use guichet_engine::spec::EventSpec;
use serde::Deserialize;

/// The presets shipped with the tool: name, TOML text.
pub const PRESETS: &[(&str, &str)] = &[
    ("smoke", include_str!("../presets/smoke.toml")),
    ("paid-smoke", include_str!("../presets/paid-smoke.toml")),
    ("celine-2016", include_str!("../presets/celine-2016.toml")),
    ("stress", include_str!("../presets/stress.toml")),
];

/// Venues a scenario may name instead of giving a spec file.
const VENUES: &[(&str, &str)] =
    &[("small-hall", include_str!("../presets/small-hall.json")), ("stadium", include_str!("../presets/stadium.json"))];

/// Bounds that keep a scenario on one machine.
pub const MAX_BUYERS: u64 = 1_000_000;
pub const MAX_DURATION_S: u64 = 6 * 3600;
pub const MAX_PHASE_S: u64 = 24 * 3600;
pub const MAX_THINK_MS: u64 = 3_600_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    /// Seeds every random choice: the same seed, the same buyers.
    #[serde(default = "default_seed")]
    pub seed: u64,
    pub event: EventSettings,
    pub room: RoomSettings,
    pub arrivals: Arrivals,
    pub buyers: Behaviour,
    pub run: RunLimits,
    #[serde(default)]
    pub audit: AuditSettings,
    /// Resolved from `event.venue` / `event.spec_file` by [`Scenario::load`].
    #[serde(skip)]
    pub venue_spec: Option<EventSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSettings {
    /// `demo` (the Amphithéâtre Cogeco), `small-hall`, `stadium`; or leave it
    /// out and give `spec_file`.
    pub venue: Option<String>,
    /// An event spec (JSON, as `POST /v1/events` takes), relative to the scenario file.
    pub spec_file: Option<PathBuf>,
    pub per_buyer_limit: Option<u32>,
    pub hold_ttl_s: Option<u32>,
    /// `"test"`: the event is paid through the test provider, and each buyer
    /// pays by checkout then the test page's confirmation instead of a
    /// purchase. Leave it out for an event sold as before.
    pub payment: Option<String>,
    /// With `payment`: each buyer gives an email address at checkout
    /// (`buyer-<n>@loadtest.invalid`), so the server queues a confirmation
    /// email per order (and sends it, if it has a relay).
    pub buyer_email: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomSettings {
    pub admit_per_minute: u32,
    pub max_active: u32,
    pub access_ttl_s: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpikeShape {
    /// Evenly over the spike.
    Uniform,
    /// Most at the opening, fewer and fewer after (exponential, mean a fifth of the spike).
    Decay,
    /// Rising to a peak in the middle, then falling (triangular).
    Ramp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arrivals {
    /// Buyers who arrive before the on-sale and wait in the lobby.
    pub lobby_buyers: u64,
    /// How long before the on-sale the lobby arrivals start.
    pub lobby_s: u64,
    /// Buyers who arrive in the spike that starts at the on-sale.
    pub spike_buyers: u64,
    pub spike_s: u64,
    pub spike_shape: SpikeShape,
    /// Buyers who trickle in, evenly, after the spike.
    #[serde(default)]
    pub tail_buyers: u64,
    #[serde(default)]
    pub tail_s: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weighted {
    pub tickets: u32,
    pub weight: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceWeights {
    /// Buyers who pick seats on the seat map.
    pub explicit: u32,
    /// Buyers who ask for the best available in a section or tier.
    pub best_available: u32,
    /// Buyers who take general-admission places.
    pub general_admission: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Behaviour {
    pub tickets_per_order: Vec<Weighted>,
    pub choice: ChoiceWeights,
    pub abandon_in_queue_percent: u32,
    pub abandon_at_checkout_percent: u32,
    /// Uniform range `[low, high]` of the pause between admission and the hold.
    pub think_before_hold_ms: [u64; 2],
    /// Uniform range of the pause between the hold and the purchase.
    pub think_before_purchase_ms: [u64; 2],
    /// How long a buyer told `sold_out` keeps polling in case places come back.
    pub sold_out_patience_s: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunLimits {
    /// The whole run stops after this, whatever is left, and the audit runs.
    pub max_duration_s: u64,
    /// Requests in flight at once; a buyer waiting for a slot counts that wait
    /// in its latency (arrivals stay open-loop).
    pub max_in_flight: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Spearman rank correlation between arrival and admission (buyers after
    /// the on-sale), and between the lottery and admission (the lobby), below
    /// which the audit fails.
    #[serde(default = "default_min_rank_correlation")]
    pub min_rank_correlation: f64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self { min_rank_correlation: default_min_rank_correlation() }
    }
}

fn default_seed() -> u64 {
    2016
}

fn default_min_rank_correlation() -> f64 {
    0.8
}

/// A scenario that cannot run, naming the field.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("no preset named {0:?} (presets: smoke, paid-smoke, celine-2016, stress)")]
    UnknownPreset(String),
    #[error("reading {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    #[error("event spec {path}: {error}")]
    Spec { path: String, error: serde_json::Error },
    #[error("{field}: {problem}")]
    Invalid { field: &'static str, problem: String },
}

fn invalid(field: &'static str, problem: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid { field, problem: problem.into() }
}

impl Scenario {
    pub fn preset(name: &str) -> Result<Self, ScenarioError> {
        let (_, text) = PRESETS
            .iter()
            .find(|(preset, _)| *preset == name)
            .ok_or_else(|| ScenarioError::UnknownPreset(name.into()))?;
        Self::parse(text, Path::new("."))
    }

    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|error| ScenarioError::Read { path: path.into(), error })?;
        Self::parse(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Parses and checks; `base` is where `spec_file` is looked up.
    pub fn parse(text: &str, base: &Path) -> Result<Self, ScenarioError> {
        let mut scenario: Scenario = toml::from_str(text)?;
        scenario.venue_spec = Some(scenario.event.resolve(base)?);
        scenario.validate()?;
        Ok(scenario)
    }

    pub fn total_buyers(&self) -> u64 {
        self.arrivals.lobby_buyers + self.arrivals.spike_buyers + self.arrivals.tail_buyers
    }

    /// Places on sale: reserved seats plus general-admission capacity.
    pub fn capacity(&self) -> u64 {
        self.spec()
            .sections
            .iter()
            .map(|s| match (&s.capacity, &s.rows) {
                (Some(capacity), _) => u64::from(*capacity),
                (None, Some(rows)) => rows.iter().map(|r| u64::from(r.seats)).sum(),
                (None, None) => 0,
            })
            .sum()
    }

    /// The venue's spec with this scenario's settings (ids and times are set per run).
    pub fn spec(&self) -> EventSpec {
        let mut spec = self.venue_spec.clone().expect("Scenario::parse resolves the venue");
        if let Some(limit) = self.event.per_buyer_limit {
            spec.per_buyer_limit = limit;
        }
        if let Some(ttl) = self.event.hold_ttl_s {
            spec.hold_ttl_s = ttl;
        }
        if let Some(provider) = &self.event.payment {
            spec.payment = Some(guichet_engine::spec::PaymentSpec { provider: provider.clone() });
        }
        spec.room.admit_per_minute = self.room.admit_per_minute;
        spec.room.max_active = self.room.max_active;
        spec.room.access_ttl_s = self.room.access_ttl_s;
        spec
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        let total = self.total_buyers();
        if total == 0 || total > MAX_BUYERS {
            return Err(invalid("arrivals", format!("{total} buyers in all; give 1 to {MAX_BUYERS}")));
        }
        let phases = [
            ("arrivals.lobby_s", self.arrivals.lobby_s, self.arrivals.lobby_buyers),
            ("arrivals.spike_s", self.arrivals.spike_s, self.arrivals.spike_buyers),
            ("arrivals.tail_s", self.arrivals.tail_s, self.arrivals.tail_buyers),
        ];
        for (field, seconds, buyers) in phases {
            if seconds > MAX_PHASE_S {
                return Err(invalid(field, format!("{seconds} s is longer than {MAX_PHASE_S} s")));
            }
            if buyers > 0 && seconds == 0 {
                return Err(invalid(field, "buyers arrive in this phase, so it needs a length of at least 1 s"));
            }
        }
        if self.event.payment.as_deref().is_some_and(|provider| provider != "test") {
            return Err(invalid("event.payment", "only \"test\" can be driven by the load test"));
        }
        let buyers = &self.buyers;
        if buyers.tickets_per_order.is_empty() || buyers.tickets_per_order.iter().all(|w| w.weight == 0) {
            return Err(invalid("buyers.tickets_per_order", "give at least one entry with a weight above 0"));
        }
        let limit = self.spec().per_buyer_limit;
        if let Some(w) = buyers.tickets_per_order.iter().find(|w| w.tickets == 0 || w.tickets > limit) {
            return Err(invalid(
                "buyers.tickets_per_order",
                format!("{} tickets: each order takes 1 to per_buyer_limit ({limit})", w.tickets),
            ));
        }
        let choice = &buyers.choice;
        if choice.explicit + choice.best_available + choice.general_admission == 0 {
            return Err(invalid("buyers.choice", "the weights add up to 0"));
        }
        for (field, percent) in [
            ("buyers.abandon_in_queue_percent", buyers.abandon_in_queue_percent),
            ("buyers.abandon_at_checkout_percent", buyers.abandon_at_checkout_percent),
        ] {
            if percent > 100 {
                return Err(invalid(field, format!("{percent} is not a percentage")));
            }
        }
        for (field, [low, high]) in [
            ("buyers.think_before_hold_ms", buyers.think_before_hold_ms),
            ("buyers.think_before_purchase_ms", buyers.think_before_purchase_ms),
        ] {
            if low > high || high > MAX_THINK_MS {
                return Err(invalid(
                    field,
                    format!("[{low}, {high}]: give [low, high] with low <= high <= {MAX_THINK_MS}"),
                ));
            }
        }
        if self.run.max_duration_s == 0 || self.run.max_duration_s > MAX_DURATION_S {
            return Err(invalid("run.max_duration_s", format!("give 1 to {MAX_DURATION_S}")));
        }
        if self.run.max_in_flight == 0 || self.run.max_in_flight > 100_000 {
            return Err(invalid("run.max_in_flight", "give 1 to 100000"));
        }
        if !(-1.0..=1.0).contains(&self.audit.min_rank_correlation) {
            return Err(invalid("audit.min_rank_correlation", "a correlation is between -1 and 1"));
        }
        Ok(())
    }
}

impl EventSettings {
    fn resolve(&self, base: &Path) -> Result<EventSpec, ScenarioError> {
        match (&self.venue, &self.spec_file) {
            (Some(_), Some(_)) => Err(invalid("event", "give either venue or spec_file, not both")),
            (None, None) => Err(invalid("event", "give venue (demo, small-hall, stadium) or spec_file")),
            (Some(venue), None) if venue == "demo" => Ok(guichet_engine::demo::demo_event().spec),
            (Some(venue), None) => {
                let (name, text) = VENUES.iter().find(|(name, _)| name == venue).ok_or_else(|| {
                    invalid("event.venue", format!("{venue:?}: known venues are demo, small-hall, stadium"))
                })?;
                serde_json::from_str(text).map_err(|error| ScenarioError::Spec { path: (*name).into(), error })
            }
            (None, Some(file)) => {
                let path = base.join(file);
                let text = std::fs::read_to_string(&path)
                    .map_err(|error| ScenarioError::Read { path: path.clone(), error })?;
                serde_json::from_str(&text)
                    .map_err(|error| ScenarioError::Spec { path: path.display().to_string(), error })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_and_is_valid() {
        for (name, _) in PRESETS {
            let scenario = Scenario::preset(name).unwrap_or_else(|e| panic!("preset {name}: {e}"));
            assert_eq!(scenario.name, *name);
        }
        let celine = Scenario::preset("celine-2016").unwrap();
        assert_eq!(celine.total_buyers(), 45_000);
        assert_eq!(celine.capacity(), 9_000);
    }

    #[test]
    fn mistakes_are_named() {
        let smoke = include_str!("../presets/smoke.toml");
        let typo = smoke.replace("spike_buyers", "spike_buyer");
        assert!(Scenario::parse(&typo, Path::new(".")).unwrap_err().to_string().contains("spike_buyer"));
        let too_many = smoke.replace("weight = 50", "weight = 0").replace("tickets = 2,", "tickets = 99,");
        let error = Scenario::parse(&too_many, Path::new(".")).unwrap_err().to_string();
        assert!(error.starts_with("buyers.tickets_per_order"), "{error}");
        assert!(matches!(Scenario::preset("nope"), Err(ScenarioError::UnknownPreset(_))));
    }
}
