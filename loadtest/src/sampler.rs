//! Once a second during the run: the event's live figures from the admin API
//! (queue, admissions, inventory), kept as time series for the report, and the
//! progress line for the operator watching.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::api::{Call, Endpoint};
use crate::buyer::Context;

const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Without a terminal, a plain progress line this often.
const PLAIN_LINE_EVERY: Duration = Duration::from_secs(5);

/// The event's figures at one moment of the run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Sample {
    pub at_s: f64,
    pub lobby: u64,
    pub waiting: u64,
    pub active: u64,
    pub admitted_total: u64,
    pub admit_per_minute: u64,
    pub measured_admit_per_minute: u64,
    pub available: u64,
    pub held: u64,
    pub sold: u64,
}

impl Sample {
    fn from_stats(at_s: f64, stats: &serde_json::Value) -> Self {
        let number = |value: &serde_json::Value| value.as_u64().unwrap_or(0);
        Sample {
            at_s,
            lobby: number(&stats["queue"]["lobby"]),
            waiting: number(&stats["queue"]["waiting"]),
            active: number(&stats["queue"]["active"]),
            admitted_total: number(&stats["queue"]["admitted_total"]),
            admit_per_minute: number(&stats["admission"]["admit_per_minute"]),
            measured_admit_per_minute: number(&stats["admission"]["measured_admit_per_minute"]),
            available: number(&stats["inventory"]["total"]["available"]),
            held: number(&stats["inventory"]["total"]["held"]),
            sold: number(&stats["inventory"]["total"]["sold"]),
        }
    }
}

/// Samples until `stop` is set; returns the series.
pub async fn sample(
    context: Arc<Context>,
    admin_token: String,
    capacity: u64,
    total_buyers: u64,
    stop: Arc<tokio::sync::Notify>,
) -> Vec<Sample> {
    let progress = Progress::new(total_buyers);
    let path = format!("/v1/events/{}/stats", context.event_id);
    let mut samples = Vec::new();
    let mut ticker = tokio::time::interval(SAMPLE_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_calls = 0u64;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.notified() => break,
        }
        let call = Call::new(Endpoint::Admin, Method::GET, &path).token(&admin_token);
        if let Ok(reply) = context.api.send(call).await {
            if reply.status == 200 {
                samples.push(Sample::from_stats(context.start.elapsed().as_secs_f64(), &reply.json()));
            }
        }
        let calls: u64 = context.api.recorder.lock().calls_per_s.iter().map(|&c| u64::from(c)).sum();
        progress.show(&context, samples.last(), capacity, calls - last_calls);
        last_calls = calls;
    }
    progress.finish();
    samples
}

struct Progress {
    bar: ProgressBar,
    plain: bool,
    last_plain: parking_lot::Mutex<Instant>,
}

impl Progress {
    fn new(total_buyers: u64) -> Self {
        let plain = !std::io::stderr().is_terminal();
        let bar = if plain { ProgressBar::hidden() } else { ProgressBar::new(total_buyers) };
        bar.set_style(
            ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} buyers done · {msg}")
                .expect("the template is valid")
                .progress_chars("=> "),
        );
        Self { bar, plain, last_plain: parking_lot::Mutex::new(Instant::now()) }
    }

    fn show(&self, context: &Context, sample: Option<&Sample>, capacity: u64, calls_last_second: u64) {
        let tally = &context.tally;
        let sold = sample.map_or(0, |s| s.sold);
        let line = format!(
            "waiting {} · admitted {} · bought {} ({} tickets, {:.1}% sold) · {} req/s · errors {}",
            sample.map_or(0, |s| s.lobby + s.waiting),
            tally.admitted.load(Ordering::Relaxed),
            tally.bought.load(Ordering::Relaxed),
            tally.tickets.load(Ordering::Relaxed),
            100.0 * sold as f64 / capacity.max(1) as f64,
            calls_last_second,
            context.api.recorder.lock().errors_per_s.iter().map(|&e| u64::from(e)).sum::<u64>(),
        );
        self.bar.set_position(tally.finished.load(Ordering::Relaxed));
        self.bar.set_message(line.clone());
        let mut last_plain = self.last_plain.lock();
        if self.plain && last_plain.elapsed() >= PLAIN_LINE_EVERY {
            *last_plain = Instant::now();
            eprintln!("[{:>5.0} s] {line}", context.start.elapsed().as_secs_f64());
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
