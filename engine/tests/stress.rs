//! Many threads fight over the same few seats and the same GA pool, while
//! time moves and a sweeper expires holds: exactly the capacity is sold, each
//! place once, and the invariants hold at the end.
mod common;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use guichet_engine::clock::ManualClock;
use guichet_engine::ids::BuyerId;
use guichet_engine::inventory::{DiscardSink, HoldRequest, Inventory, Order, Requester};

/// A small deterministic generator per thread (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn random_request(rng: &mut Rng) -> HoldRequest {
    let quantity = 1 + rng.below(3) as u32;
    match rng.below(4) {
        0 => {
            let pool = [("A", "1", 1), ("A", "1", 2), ("A", "2", 101), ("A", "2", 102), ("B", "1", 2), ("B", "1", 3)];
            let first = pool[rng.below(pool.len() as u64) as usize];
            let second = pool[rng.below(pool.len() as u64) as usize];
            if first == second {
                seats(&[first])
            } else {
                seats(&[first, second])
            }
        }
        1 => best_in(["A", "B"][rng.below(2) as usize], quantity),
        2 => HoldRequest::BestInTier { tier: ["parterre", "loge", "pelouse"][rng.below(3) as usize].into(), quantity },
        _ => best_in("GA", quantity),
    }
}

/// Buys until the venue is sold out; returns the orders this thread made.
fn buyer_thread(inventory: &Inventory, thread: u64, sold_out: &AtomicBool) -> Vec<Order> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (thread + 1));
    let mut orders = Vec::new();
    let mut next_buyer = thread * 1_000_000;
    for attempt in 0..2_000_000u64 {
        if sold_out.load(Ordering::Relaxed) {
            break;
        }
        next_buyer += 1;
        let buyer = BuyerId(next_buyer);
        let Ok(placed) = inventory.hold(buyer, &random_request(&mut rng)) else { continue };
        match rng.below(10) {
            0..=5 => {
                let key = format!("t{thread}-{attempt}");
                if let Ok(purchase) = inventory.purchase(placed.hold.id, Requester::Buyer(buyer), &key, "pay") {
                    assert!(purchase.created);
                    orders.push(purchase.order);
                }
            }
            6..=8 => inventory.release(placed.hold.id, Requester::Buyer(buyer)).map(drop).unwrap(),
            _ => {} // abandoned: expires later
        }
        if inventory.availability().total.sold == 23 {
            sold_out.store(true, Ordering::Relaxed);
        }
    }
    orders
}

#[test]
fn concurrent_buyers_sell_each_place_exactly_once() {
    let rounds = if std::env::var_os("RUN_SLOW_TESTS").is_some() { 50 } else { 5 };
    for _ in 0..rounds {
        let event = spec_from(small_spec_json()).validate().unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let inventory = Inventory::new(&event, clock.clone(), Arc::new(DiscardSink));
        let sold_out = AtomicBool::new(false);
        let orders: Vec<Order> = std::thread::scope(|scope| {
            scope.spawn(|| {
                while !sold_out.load(Ordering::Relaxed) {
                    clock.advance_ms(500);
                    inventory.expire_holds().unwrap();
                    std::thread::yield_now();
                }
            });
            let buyers: Vec<_> = (0..4)
                .map(|thread| {
                    scope.spawn({
                        let (inventory, sold_out) = (&inventory, &sold_out);
                        move || buyer_thread(inventory, thread, sold_out)
                    })
                })
                .collect();
            buyers.into_iter().flat_map(|b| b.join().unwrap()).collect()
        });
        assert!(sold_out.load(Ordering::Relaxed), "the venue sold out");
        let tickets: u32 = orders.iter().map(|o| o.tickets.0).sum();
        assert_eq!(tickets, 23, "exactly the capacity was sold");
        let mut seats_sold = HashSet::new();
        for order in &orders {
            for place in &order.places {
                if let guichet_engine::inventory::Place::Seat { .. } = place {
                    assert!(seats_sold.insert(*place), "{place:?} sold twice");
                }
            }
        }
        assert_eq!(inventory.availability().total.sold, 23);
        inventory.check_invariants().unwrap();
    }
}
