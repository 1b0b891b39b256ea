//! Prometheus metrics: requests by route and status, latency by route, and,
//! read from the engine at each scrape, the queue, admissions, inventory
//! and the log.
//!
//! Looking a labelled series up hashes its labels and takes the family's
//! lock; a request counts in two series, so the handles are kept per route
//! (and per route and usual status), looked up once and then indexed.
//!
//! Below the HTTP layer: routes are numbered slots whose labels are given
//! at construction, and the exposition is text; `http` records into it and
//! answers `/metrics`.

use std::sync::OnceLock;
use std::time::Duration;

use guichet_engine::store::Engine;
use hyper::StatusCode;
use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The statuses whose series handles are kept per route; others are looked
/// up by label each time (they are rare).
const USUAL_STATUSES: [u16; 16] = [200, 201, 204, 400, 401, 403, 404, 405, 409, 410, 413, 415, 422, 429, 500, 503];

/// The label of requests that no route matched.
const UNKNOWN_ROUTE: &str = "unknown";

/// One route's series handles, filled at their first use so that a series
/// appears in the exposition only once it has counted something.
#[derive(Default)]
struct RouteSeries {
    latency: OnceLock<Histogram>,
    by_status: [OnceLock<IntCounter>; USUAL_STATUSES.len()],
}

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    /// Each route's label, by its number.
    route_labels: Box<[&'static str]>,
    /// Handle slots: one per route, and one more for paths no route matches.
    series: Box<[RouteSeries]>,
    queue: IntGaugeVec,
    admission: GaugeVec,
    inventory: IntGaugeVec,
    log_records: IntGauge,
    log_batches: IntGauge,
    log_fsync_last_seconds: prometheus::Gauge,
    log_fsync_mean_seconds: prometheus::Gauge,
    log_poisoned: IntGauge,
    log_durable_sequence: IntGauge,
    snapshot_behind_records: IntGauge,
    outbox: IntGaugeVec,
    outbox_oldest_pending_seconds: IntGauge,
    webhook_rejected: IntCounterVec,
    email_entries: IntGaugeVec,
    mail: MailMeters,
    events: EventMeters,
}

/// Per event, beyond the queue and the places: the room's settings, sales,
/// what ran out or went silent, and the doors.
struct EventMeters {
    max_active: IntGaugeVec,
    paused: IntGaugeVec,
    orders: IntGaugeVec,
    revenue_cents: IntGaugeVec,
    silent_drops: IntCounterVec,
    holds_expired: IntCounterVec,
    checkins: IntGaugeVec,
    second_entries: IntGaugeVec,
}

impl EventMeters {
    fn new(registry: &Registry) -> Self {
        let gauge = |name: &str, help: &str| {
            registered(registry, IntGaugeVec::new(Opts::new(name, help), &["event"]).expect("valid metric"))
        };
        let counter = |name: &str, help: &str| {
            registered(registry, IntCounterVec::new(Opts::new(name, help), &["event"]).expect("valid metric"))
        };
        EventMeters {
            max_active: gauge("guichet_room_max_active", "The most buyers shopping at once (the setting in force)"),
            paused: gauge("guichet_room_paused", "1 while the promoter has paused admission"),
            orders: gauge("guichet_orders", "Orders not cancelled"),
            revenue_cents: gauge(
                "guichet_revenue_cents",
                "Revenue of the tickets sold, in the event's currency's cents",
            ),
            silent_drops: counter(
                "guichet_queue_silent_drops_total",
                "Waiting buyers dropped for not polling (since the process started)",
            ),
            holds_expired: counter("guichet_holds_expired_total", "Holds that ran out (since the process started)"),
            checkins: gauge("guichet_checkins", "Tickets let in at the doors"),
            second_entries: gauge("guichet_checkin_second_entries", "Tickets a door without network let in again"),
        }
    }

    fn read(&self, engine: &Engine, event: &guichet_engine::event::Event) {
        let id = event.id();
        let settings = event.room.stats().settings;
        self.max_active.with_label_values(&[id]).set(i64::from(settings.max_active));
        self.paused.with_label_values(&[id]).set(i64::from(settings.paused));
        self.orders.with_label_values(&[id]).set(event.inventory.confirmed_orders() as i64);
        self.revenue_cents.with_label_values(&[id]).set(event.inventory.sales().total.revenue_cents as i64);
        // Counters follow the engine's running totals.
        let follow = |counter: &IntCounterVec, total: u64| {
            let series = counter.with_label_values(&[id]);
            series.inc_by(total.saturating_sub(series.get()));
        };
        follow(&self.silent_drops, event.room.silent_drops_since_start());
        follow(&self.holds_expired, event.inventory.holds_expired_since_start());
        let checkins = engine.check_in_counts(event);
        self.checkins.with_label_values(&[id]).set(checkins.total as i64);
        self.second_entries.with_label_values(&[id]).set(checkins.second_entries as i64);
    }
}

/// What the mail worker counts (handles shared with it).
#[derive(Clone)]
pub struct MailMeters {
    pub sent: IntCounter,
    /// By kind: `transient` (retried), `permanent` (given up).
    pub failures: IntCounterVec,
    /// Entries done without a message, by reason (`no_address`, `order_cancelled`).
    pub skipped: IntCounterVec,
    pub relay_configured: IntGauge,
    pub relay_up: IntGauge,
    pub last_success_seconds: IntGauge,
}

fn registered<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    registry.register(Box::new(metric.clone())).expect("metric names are unique");
    metric
}

impl Metrics {
    /// `route_labels`: the label of each route, in the order of the numbers
    /// `observe_request` receives.
    pub fn new(route_labels: impl IntoIterator<Item = &'static str>) -> Self {
        let route_labels: Box<[&'static str]> = route_labels.into_iter().collect();
        let registry = Registry::new();
        let requests = registered(
            &registry,
            IntCounterVec::new(
                Opts::new("guichet_http_requests_total", "HTTP requests by route and status"),
                &["route", "status"],
            )
            .expect("valid metric"),
        );
        let buckets = vec![0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
        let latency = registered(
            &registry,
            HistogramVec::new(
                HistogramOpts::new("guichet_http_request_duration_seconds", "HTTP request latency by route")
                    .buckets(buckets),
                &["route"],
            )
            .expect("valid metric"),
        );
        let webhook_rejected = registered(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "guichet_webhook_rejected_total",
                    "Signed webhook deliveries about one of our payments that did not match it, by reason",
                ),
                &["reason"],
            )
            .expect("valid metric"),
        );
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            registered(&registry, IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
        };
        let queue = gauge_vec(
            "guichet_queue_buyers",
            "Buyers in the waiting room by state (lobby, waiting, active)",
            &["event", "state"],
        );
        let inventory =
            gauge_vec("guichet_inventory_places", "Places by state (available, held, sold)", &["event", "state"]);
        let admission = registered(
            &registry,
            GaugeVec::new(
                Opts::new("guichet_admit_per_minute", "Admission rate, configured and measured"),
                &["event", "kind"],
            )
            .expect("valid metric"),
        );
        let gauge = |name: &str, help: &str| registered(&registry, IntGauge::new(name, help).expect("valid metric"));
        let float_gauge =
            |name: &str, help: &str| registered(&registry, prometheus::Gauge::new(name, help).expect("valid metric"));
        Self {
            requests,
            latency,
            series: (0..=route_labels.len()).map(|_| RouteSeries::default()).collect(),
            route_labels,
            queue,
            admission,
            inventory,
            log_records: gauge("guichet_log_records", "Records written to the log since start"),
            log_batches: gauge(
                "guichet_log_batches",
                "Batches (writes + fdatasync) since start; records/batches is the mean batch size",
            ),
            log_fsync_last_seconds: float_gauge("guichet_log_fsync_last_seconds", "Duration of the last fdatasync"),
            log_fsync_mean_seconds: float_gauge(
                "guichet_log_fsync_mean_seconds",
                "Mean fdatasync duration since start",
            ),
            log_poisoned: gauge("guichet_log_poisoned", "1 once the log failed: nothing more is acknowledged"),
            log_durable_sequence: gauge("guichet_log_durable_sequence", "Highest durable record sequence"),
            snapshot_behind_records: gauge(
                "guichet_snapshot_behind_records",
                "Records in the log since the newest snapshot (what a restart replays)",
            ),
            outbox: gauge_vec(
                "guichet_outbox_entries",
                "Outbox entries (refunds, email) by state: pending, retrying (pending after a failed attempt), done, failed",
                &["state"],
            ),
            outbox_oldest_pending_seconds: gauge(
                "guichet_outbox_oldest_pending_seconds",
                "Age of the oldest outbox entry not yet done (0: none)",
            ),
            email_entries: gauge_vec(
                "guichet_email_entries",
                "Email outbox entries by state: pending, retrying, done, failed",
                &["state"],
            ),
            mail: MailMeters {
                sent: registered(
                    &registry,
                    IntCounter::new("guichet_email_sent_total", "Messages the SMTP relay took").expect("valid metric"),
                ),
                failures: registered(
                    &registry,
                    IntCounterVec::new(
                        Opts::new(
                            "guichet_email_failures_total",
                            "Messages not sent: transient (retried with backoff) or permanent (given up)",
                        ),
                        &["kind"],
                    )
                    .expect("valid metric"),
                ),
                skipped: registered(
                    &registry,
                    IntCounterVec::new(
                        Opts::new("guichet_email_skipped_total", "Email entries done without a message, by reason"),
                        &["reason"],
                    )
                    .expect("valid metric"),
                ),
                relay_configured: gauge("guichet_email_relay_configured", "1 when an SMTP relay is configured"),
                relay_up: gauge(
                    "guichet_email_relay_up",
                    "0 after the relay could not take a message for a passing reason; 1 otherwise (when configured)",
                ),
                last_success_seconds: gauge(
                    "guichet_email_relay_last_success_timestamp_seconds",
                    "When the relay last took a message (Unix seconds; 0: not since start)",
                ),
            },
            webhook_rejected,
            events: EventMeters::new(&registry),
            registry,
        }
    }

    /// The handles the mail worker counts with.
    /// Adds collectors kept elsewhere (cluster mode's) to the exposition.
    pub fn register(&self, collectors: Vec<Box<dyn prometheus::core::Collector>>) {
        for collector in collectors {
            self.registry.register(collector).expect("metric names are unique");
        }
    }

    pub fn mail_meters(&self) -> MailMeters {
        self.mail.clone()
    }

    /// Counts a request of the route numbered `route` (`None`: no route matched).
    pub fn observe_request(&self, route: Option<usize>, status: StatusCode, elapsed: Duration) {
        let known = route.filter(|number| *number < self.route_labels.len());
        let label = known.map_or(UNKNOWN_ROUTE, |number| self.route_labels[number]);
        let series = &self.series[known.unwrap_or(self.route_labels.len())];
        match USUAL_STATUSES.iter().position(|usual| *usual == status.as_u16()) {
            Some(slot) => {
                series.by_status[slot].get_or_init(|| self.requests.with_label_values(&[label, status.as_str()])).inc()
            }
            None => self.requests.with_label_values(&[label, status.as_str()]).inc(),
        }
        series.latency.get_or_init(|| self.latency.with_label_values(&[label])).observe(elapsed.as_secs_f64());
    }

    /// Counts a webhook delivery refused for not matching its payment.
    pub fn webhook_rejected(&self, reason: &str) {
        self.webhook_rejected.with_label_values(&[reason]).inc();
    }

    /// A page, an asset or an unknown path: off the API's hot path, so looked up by label.
    pub fn observe_page(&self, label: &str, status: StatusCode, elapsed: Duration) {
        self.requests.with_label_values(&[label, status.as_str()]).inc();
        self.latency.with_label_values(&[label]).observe(elapsed.as_secs_f64());
    }

    /// The text exposition, with the engine's figures read now.
    pub fn exposition(&self, engine: &Engine) -> Vec<u8> {
        self.read_engine(engine);
        let mut text = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut text);
        text
    }

    fn read_engine(&self, engine: &Engine) {
        for event in engine.events() {
            let id = event.id();
            let room = event.room.stats();
            for (state, value) in [("lobby", room.lobby), ("waiting", room.waiting), ("active", room.active)] {
                self.queue.with_label_values(&[id, state]).set(value as i64);
            }
            self.admission.with_label_values(&[id, "configured"]).set(f64::from(room.settings.admit_per_minute));
            self.admission.with_label_values(&[id, "measured"]).set(room.measured_admit_per_minute as f64);
            let total = event.inventory.availability().total;
            for (state, value) in [("available", total.available), ("held", total.held), ("sold", total.sold)] {
                self.inventory.with_label_values(&[id, state]).set(value as i64);
            }
            self.events.read(engine, &event);
        }
        let wal = engine.wal();
        let stats = wal.stats();
        let load = |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
        let (records, batches) = (load(&stats.records), load(&stats.batches));
        self.log_records.set(records as i64);
        self.log_batches.set(batches as i64);
        self.log_fsync_last_seconds.set(load(&stats.last_sync_nanos) as f64 / 1e9);
        self.log_fsync_mean_seconds.set(load(&stats.sync_nanos_total) as f64 / 1e9 / batches.max(1) as f64);
        self.log_poisoned.set(i64::from(wal.is_poisoned()));
        self.log_durable_sequence.set(wal.durable_sequence() as i64);
        self.snapshot_behind_records.set(wal.last_assigned_sequence().saturating_sub(engine.snapshot_covered()) as i64);
        let outbox = engine.outbox_counts();
        let states = [("pending", outbox.pending), ("retrying", outbox.retrying), ("done", outbox.done)];
        for (state, value) in states.into_iter().chain([("failed", outbox.failed)]) {
            self.outbox.with_label_values(&[state]).set(value as i64);
        }
        let oldest = outbox.oldest_pending_at.map_or(0, |at| at.ms_until(engine.clock().now()) / 1000);
        self.outbox_oldest_pending_seconds.set(oldest as i64);
        let email = engine.email_counts();
        let states = [("pending", email.pending), ("retrying", email.retrying), ("done", email.done)];
        for (state, value) in states.into_iter().chain([("failed", email.failed)]) {
            self.email_entries.with_label_values(&[state]).set(value as i64);
        }
    }
}
