//! `guichet demo`: the server with the demo event (the Amphithéâtre Cogeco)
//! going on sale a minute after start, paid through the `test` provider (the
//! buyer pays on the test payment page). With `--sell-out`, an in-process run
//! instead: buyers on every core race for the 9,000 places through the real
//! allocator until it sells out, then the result is audited.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use guichet_engine::clock::SystemClock;
use guichet_engine::demo::demo_event;
use guichet_engine::ids::BuyerId;
use guichet_engine::inventory::{DiscardSink, HoldRequest, Inventory, Requester};

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Run the in-process sell-out instead of the server.
    #[arg(long)]
    sell_out: bool,
    /// Where the demo server listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// The demo server's data directory (kept between runs).
    #[arg(long, default_value = "./demo-data")]
    data_dir: std::path::PathBuf,
    /// With --sell-out: buyer threads racing for seats.
    #[arg(long, default_value_t = 4)]
    threads: u64,
    /// Share of holds abandoned at checkout, in percent.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=95))]
    abandon_percent: u64,
}

#[derive(Default)]
struct Tally {
    holds: AtomicU64,
    refused: AtomicU64,
    orders: AtomicU64,
    tickets: AtomicU64,
}

pub fn run(args: &DemoArgs) -> ExitCode {
    if args.sell_out {
        sell_out(args)
    } else {
        serve_demo(args)
    }
}

/// The server, with the demo event on sale a minute after start (created on
/// the first run; kept in the data directory after that).
fn serve_demo(args: &DemoArgs) -> ExitCode {
    let serve_args = crate::config::ServeArgs {
        listen: Some(args.listen),
        data_dir: Some(args.data_dir.clone()),
        // The demo event sells through the test provider.
        enable_test_provider: true,
        ..crate::config::ServeArgs::default()
    };
    crate::server::serve_with(&serve_args, |address, app| {
        let engine = &app.engine;
        let id = demo_event().spec.id.clone();
        if engine.event(&id).is_none() {
            let mut spec = demo_event().spec;
            spec.on_sale_at = engine.clock().now().plus_s(60).to_rfc3339();
            // Paid through the test provider: the whole paid flow, no money.
            spec.payment = Some(guichet_engine::spec::PaymentSpec { provider: "test".into() });
            match engine.create_event(&spec).map(|(_, receipt)| engine.wait_durable(receipt)) {
                Ok(Ok(())) => {}
                Ok(Err(error)) => eprintln!("demo event not saved: {error}"),
                Err(error) => eprintln!("demo event not created: {error}"),
            }
        }
        if let Some(event) = engine.event(&id) {
            println!("demo: {} — {}", event.valid.spec.name, event.valid.spec.venue);
            println!("  goes on sale at {} (the room opens then)", event.valid.on_sale_at);
            if let Some(provider) = event.valid.spec.payment_provider() {
                println!("  paid through the {} provider (no card is charged)", provider.name());
            }
            println!("  buy:     http://{address}/e/{id}");
            println!("  promoter dashboard: http://{address}/admin");
            println!("  event:   http://{address}/v1/events/{id}");
            println!("  join:    curl -X POST http://{address}/v1/events/{id}/queue");
            println!("  metrics: http://{address}/metrics");
        }
    })
}

fn sell_out(args: &DemoArgs) -> ExitCode {
    let event = demo_event();
    println!("{} — {}", event.spec.name, event.spec.venue);
    println!(
        "{} places: {} sections, {} tiers",
        event.layout.capacity(),
        event.layout.sections.len(),
        event.layout.tiers.len()
    );
    let inventory = Inventory::new(&event, Arc::new(SystemClock::new()), Arc::new(DiscardSink));
    let tally = Tally::default();
    let sold_out = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for thread in 0..args.threads {
            let (inventory, tally, sold_out) = (&inventory, &tally, &sold_out);
            scope.spawn(move || buy_until_sold_out(inventory, thread, args.abandon_percent, tally, sold_out));
        }
    });
    let elapsed = started.elapsed();
    let availability = inventory.availability();
    println!(
        "sold {} places in {} orders in {:.1} ms ({} holds, {} refused)",
        availability.total.sold,
        tally.orders.load(Ordering::Relaxed),
        elapsed.as_secs_f64() * 1000.0,
        tally.holds.load(Ordering::Relaxed),
        tally.refused.load(Ordering::Relaxed)
    );
    for (tier, counts) in event.layout.tiers.iter().zip(&availability.tiers) {
        println!(
            "  {:<10} sold {:>5}  available {:>5}  held {:>4}",
            tier.name, counts.sold, counts.available, counts.held
        );
    }
    let audit = inventory.check_invariants();
    let balanced = tally.tickets.load(Ordering::Relaxed) == availability.total.sold;
    match (audit, balanced) {
        (Ok(()), true) => {
            println!("audit: every place sold once, counts balance");
            ExitCode::SUCCESS
        }
        (result, _) => {
            eprintln!("audit FAILED: {result:?}, tickets in orders balance with sold places: {balanced}");
            ExitCode::FAILURE
        }
    }
}

fn buy_until_sold_out(inventory: &Inventory, thread: u64, abandon_percent: u64, tally: &Tally, sold_out: &AtomicBool) {
    let tiers = ["loge", "parterre", "pelouse"];
    let mut buyer = thread << 40;
    while !sold_out.load(Ordering::Relaxed) {
        buyer += 1;
        let quantity = 1 + (buyer % 4) as u32;
        let request = HoldRequest::BestInTier { tier: tiers[(buyer % 3) as usize].into(), quantity };
        let Ok(placed) = inventory.hold(BuyerId(buyer), &request) else {
            tally.refused.fetch_add(1, Ordering::Relaxed);
            let left = inventory.availability().total;
            sold_out.store(left.available + left.held == 0, Ordering::Relaxed);
            continue;
        };
        tally.holds.fetch_add(1, Ordering::Relaxed);
        let requester = Requester::Buyer(BuyerId(buyer));
        if buyer.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 100 < abandon_percent {
            let _ = inventory.release(placed.hold.id, requester);
        } else if let Ok(purchase) =
            inventory.purchase(placed.hold.id, requester, &format!("demo-{buyer}"), "demo-payment")
        {
            tally.orders.fetch_add(1, Ordering::Relaxed);
            tally.tickets.fetch_add(u64::from(purchase.order.tickets.0), Ordering::Relaxed);
        }
    }
}
