//! The waiting room: lottery, first come first served, admission rate and
//! cap, pause, heartbeats, leaving, sold out, and replay of its records.
use std::sync::{Arc, Mutex};

use guichet_engine::clock::{Clock, ManualClock};
use guichet_engine::ids::BuyerId;
use guichet_engine::inventory::{Receipt, SinkError};
use guichet_engine::room::*;
use guichet_engine::time::UnixTimeMs;

const EPOCH: UnixTimeMs = UnixTimeMs(1_800_000_000_000);
const ON_SALE: UnixTimeMs = UnixTimeMs(1_800_000_600_000); // ten minutes after the epoch
const PLENTY: Supply = Supply { remaining: 1_000_000, available: 1_000_000, tickets_per_order: 2.0 };
const SEED: [u8; 32] = *b"a lottery seed for the room test";

#[derive(Debug, Default)]
struct RecordingSink(Mutex<Vec<RoomRecord>>);

impl RoomSink for RecordingSink {
    fn submit(&self, record: &RoomRecord) -> Result<Receipt, SinkError> {
        let mut records = self.0.lock().unwrap();
        records.push(record.clone());
        Ok(Receipt(records.len() as u64))
    }
}

struct Harness {
    room: WaitingRoom,
    clock: Arc<ManualClock>,
    sink: Arc<RecordingSink>,
}

fn harness(admit_per_minute: u32, max_active: u32, heartbeat_grace_s: u32) -> Harness {
    let clock = Arc::new(ManualClock::new(EPOCH));
    let sink = Arc::new(RecordingSink::default());
    let config = RoomConfig {
        on_sale_at: ON_SALE,
        closes_at: UnixTimeMs(ON_SALE.0 + 86_400_000),
        access_ttl_s: 600,
        heartbeat_grace_s,
        poll_tolerance_percent: 90,
        seed: SEED,
    };
    let settings = RoomSettings { admit_per_minute, max_active, paused: false };
    let room = WaitingRoom::new(config, settings, EPOCH, clock.clone(), sink.clone());
    Harness { room, clock, sink }
}

impl Harness {
    fn join(&self, count: u64) -> Vec<BuyerId> {
        (0..count).map(|_| self.room.join().unwrap().0).collect()
    }

    /// Ticks every 100 ms for `ms`; returns how many were admitted.
    fn run_ms(&self, ms: u64, supply: Supply) -> usize {
        (0..ms / 100)
            .map(|_| {
                self.clock.advance_ms(100);
                self.room.tick(supply).unwrap().admitted
            })
            .sum()
    }

    fn go_on_sale(&self) {
        self.clock.set(ON_SALE);
        assert!(self.room.tick(PLENTY).unwrap().opened);
    }

    /// Where a buyer stands, without polling.
    fn status(&self, buyer: BuyerId) -> QueueStatus {
        self.room.peek(buyer, PLENTY).unwrap()
    }

    /// Polls for every buyer, ignoring "too early" (keeps them alive).
    fn heartbeat(&self, buyers: &[BuyerId]) {
        for buyer in buyers {
            let _ = self.room.status(*buyer, PLENTY);
        }
    }
}

#[test]
fn the_lobby_waits_without_a_position_then_the_lottery_orders_it_from_the_published_seed() {
    let h = harness(60, 10, 3_600);
    let lobby = h.join(500);
    let before = h.status(lobby[0]);
    assert_eq!((before.state, before.position), (BuyerState::Lobby, None));
    assert_eq!(h.room.stats().seed, None, "the seed stays secret until the lottery");
    assert_eq!(h.room.stats().seed_sha256, hex(&seed_digest(&SEED)));
    h.go_on_sale();
    let stats = h.room.stats();
    assert_eq!(stats.seed, Some(hex(&SEED)), "and is published after it");
    let order = h.room.lobby_order();
    let recomputed: Vec<BuyerId> = lottery_order(&SEED, 500).into_iter().map(|b| BuyerId(u64::from(b))).collect();
    assert_eq!(order, recomputed, "anyone can recompute the order from the seed");
    assert_ne!(order, lobby, "the lottery is not join order");
    h.clock.advance_ms(2_000);
    for (rank, buyer) in order.iter().enumerate() {
        let status = h.status(*buyer);
        assert_eq!(
            (status.state, status.position, status.ahead),
            (BuyerState::Waiting, Some(rank as u64 + 1), Some(rank as u64))
        );
    }
}

#[test]
fn after_the_on_sale_it_is_first_come_first_served_behind_the_lobby() {
    let h = harness(6_000, 1_000, 3_600);
    let lobby = h.join(20);
    h.go_on_sale();
    let late = h.join(30);
    assert_eq!(h.status(late[0]).position, Some(21));
    assert_eq!(h.status(late[29]).position, Some(50));
    h.run_ms(200, PLENTY); // 6,000 a minute: 20 admitted in 200 ms
    for buyer in &lobby {
        assert_eq!(h.status(*buyer).state, BuyerState::Admitted);
    }
    h.run_ms(100, PLENTY);
    let admitted: Vec<bool> = late.iter().map(|b| h.status(*b).state == BuyerState::Admitted).collect();
    assert_eq!(admitted.iter().filter(|a| **a).count(), 10);
    assert!(admitted[..10].iter().all(|a| *a), "the first ten to arrive are the ten admitted");
}

#[test]
fn admissions_keep_within_one_percent_of_the_rate_over_a_minute() {
    for admit_per_minute in [600, 1_000, 7_777, 60_000] {
        let h = harness(admit_per_minute, 1_000_000, 3_600);
        h.go_on_sale();
        h.join(u64::from(admit_per_minute) * 2);
        h.run_ms(5_000, PLENTY); // settle
        let in_a_minute = h.run_ms(60_000, PLENTY) as f64;
        let expected = f64::from(admit_per_minute);
        assert!((in_a_minute - expected).abs() <= expected * 0.01, "{admit_per_minute}/min: admitted {in_a_minute}");
        let measured = h.room.stats().measured_admit_per_minute as f64;
        assert!((measured - expected).abs() <= expected * 0.02, "measured {measured} for {expected}");
    }
}

#[test]
fn the_active_cap_holds_at_every_tick_and_frees_on_expiry_or_purchase() {
    let h = harness(60_000, 50, 3_600);
    h.go_on_sale();
    let buyers = h.join(500);
    for _ in 0..100 {
        h.run_ms(100, PLENTY);
        assert!(h.room.stats().active <= 50);
    }
    assert_eq!(h.room.stats().admitted_total, 50, "the cap, not the rate, limits");
    let admitted: Vec<BuyerId> =
        buyers.iter().copied().filter(|b| h.status(*b).state == BuyerState::Admitted).collect();
    for buyer in &admitted[..10] {
        h.room.note_purchase(*buyer);
    }
    h.run_ms(100, PLENTY);
    assert_eq!(h.room.stats().admitted_total, 60, "a purchase frees the slot at once");
    h.clock.advance_ms(600_000); // access_ttl_s: the first 40 accesses have ended
    h.run_ms(100, PLENTY);
    assert_eq!(h.room.stats().active, 50);
    assert_eq!(h.room.stats().admitted_total, 100, "expired accesses free their slots, not before they end");
    assert_eq!(h.status(admitted[20]).state, BuyerState::Expired);
    h.run_ms(1_000, PLENTY); // the ten admitted after the purchases end too
    assert_eq!(h.room.stats().admitted_total, 110);
    assert_eq!(h.room.stats().active, 50);
    // Leaving after the access ended frees nothing more (no double count).
    h.room.leave(admitted[20]).unwrap();
    h.run_ms(100, PLENTY);
    assert_eq!((h.room.stats().active, h.room.stats().admitted_total), (50, 110));
}

#[test]
fn pause_stops_admissions_and_resuming_releases_no_burst() {
    let h = harness(600, 1_000_000, 3_600);
    h.go_on_sale();
    h.join(2_000);
    h.room.update_settings(SettingsPatch { paused: Some(true), ..SettingsPatch::default() }).unwrap();
    assert_eq!(h.run_ms(30_000, PLENTY), 0);
    h.room.update_settings(SettingsPatch { paused: Some(false), ..SettingsPatch::default() }).unwrap();
    assert!(h.run_ms(100, PLENTY) <= 1, "no admissions banked while paused");
    assert!((595..=605).contains(&h.run_ms(60_000, PLENTY)));
    h.room.update_settings(SettingsPatch { admit_per_minute: Some(1_200), ..SettingsPatch::default() }).unwrap();
    let faster = h.run_ms(60_000, PLENTY);
    assert!((1_188..=1_212).contains(&faster), "{faster}");
}

#[test]
fn the_lottery_happens_at_the_on_sale_even_when_paused() {
    let h = harness(600, 10, 3_600);
    h.room.update_settings(SettingsPatch { paused: Some(true), ..SettingsPatch::default() }).unwrap();
    let lobby = h.join(10);
    h.go_on_sale();
    assert_eq!(h.status(lobby[0]).state, BuyerState::Waiting);
    assert!(h.status(lobby[0]).eta_s.is_none(), "no honest ETA while paused");
}

#[test]
fn silent_buyers_are_skipped_and_do_not_stall_the_line() {
    let h = harness(6_000, 1_000_000, 60);
    h.go_on_sale();
    let buyers = h.join(200);
    let (silent, polling): (Vec<BuyerId>, Vec<BuyerId>) = buyers.iter().partition(|b| b.0 % 2 == 0);
    h.room.update_settings(SettingsPatch { paused: Some(true), ..SettingsPatch::default() }).unwrap();
    for _ in 0..7 {
        h.clock.advance_ms(10_000);
        h.heartbeat(&polling); // a poll every 10 s keeps the place
    }
    h.room.update_settings(SettingsPatch { paused: Some(false), ..SettingsPatch::default() }).unwrap();
    let ahead_of_last = h.status(*polling.last().unwrap()).ahead;
    assert_eq!(ahead_of_last, Some(199), "silent buyers still count until the line reaches them");
    let admitted = h.run_ms(1_000, PLENTY);
    assert_eq!(admitted, 100, "a second at 6,000 a minute admits 100, all of them live");
    assert!(polling.iter().all(|b| h.status(*b).state == BuyerState::Admitted));
    assert!(silent.iter().all(|b| h.status(*b).state == BuyerState::Expired), "silent ones lost their place");
    assert_eq!(h.room.stats().abandoned, 100);
}

#[test]
fn a_buyer_who_leaves_lets_the_people_behind_move_up() {
    let h = harness(60, 10, 3_600);
    h.go_on_sale();
    let buyers = h.join(5);
    h.clock.advance_ms(1_000);
    assert_eq!(h.status(buyers[4]).position, Some(5));
    h.room.leave(buyers[1]).unwrap();
    h.room.leave(buyers[1]).unwrap(); // leaving twice is fine
    h.clock.advance_ms(10_000);
    assert_eq!(h.status(buyers[4]).position, Some(4));
    assert_eq!(h.status(buyers[1]).state, BuyerState::Left);
    let lobby_leaver = harness(60, 10, 3_600);
    let early = lobby_leaver.join(3);
    lobby_leaver.room.leave(early[0]).unwrap();
    assert_eq!(lobby_leaver.room.stats().lobby, 2);
    lobby_leaver.go_on_sale();
    assert_eq!(lobby_leaver.room.stats().waiting, 2, "a lobby buyer who left is not in the lottery's line");
}

#[test]
fn nothing_left_to_sell_stops_admission_and_says_sold_out() {
    let h = harness(60_000, 1_000, 3_600);
    h.go_on_sale();
    let buyers = h.join(100);
    let all_held = Supply { remaining: 40, available: 0, tickets_per_order: 2.0 };
    assert_eq!(h.run_ms(1_000, all_held), 0, "no admission while every place is sold or held");
    let status = h.room.status(buyers[50], all_held).unwrap();
    assert_eq!(status.state, BuyerState::Waiting);
    assert!(status.sold_out_likely, "50 ahead at 2 tickets each cannot be served by 40 places");
    assert!(!h.room.status(buyers[5], Supply { available: 1, ..all_held }).unwrap().sold_out_likely);
    let gone = Supply { remaining: 0, available: 0, tickets_per_order: 2.0 };
    h.clock.advance_ms(30_000);
    assert_eq!(h.room.status(buyers[60], gone).unwrap().state, BuyerState::SoldOut);
    h.clock.advance_ms(30_000);
    assert_eq!(h.room.status(buyers[60], all_held).unwrap().state, BuyerState::Waiting, "places came back");
    assert!(h.run_ms(200, Supply { available: 3, ..all_held }) > 0, "admission resumes");
}

#[test]
fn polling_too_fast_is_refused_without_losing_the_place() {
    let h = harness(60, 10, 3_600);
    h.go_on_sale();
    let buyers = h.join(3_000);
    let first = h.room.status(buyers[2_999], PLENTY).unwrap();
    assert!(first.poll_after_ms > 1_000, "far back, poll rarely: {}", first.poll_after_ms);
    match h.room.status(buyers[2_999], PLENTY) {
        Err(RoomError::TooEarly { retry_after_ms }) => assert!(retry_after_ms > 0),
        other => panic!("{other:?}"),
    }
    h.clock.advance_ms(first.poll_after_ms);
    assert_eq!(h.room.status(buyers[2_999], PLENTY).unwrap().position, first.position);
    assert!(first.eta_s.is_some_and(|eta| (2_990..=3_010).contains(&eta)), "60 a minute: {:?} s", first.eta_s);
    assert_eq!(h.room.status(BuyerId(99_999), PLENTY), Err(RoomError::UnknownBuyer));
}

#[test]
fn replaying_the_records_rebuilds_the_same_room() {
    let h = harness(6_000, 100, 60);
    let lobby = h.join(300);
    h.room.leave(lobby[7]).unwrap();
    h.go_on_sale();
    let late = h.join(200);
    h.run_ms(2_000, PLENTY);
    h.room.leave(late[150]).unwrap();
    h.clock.advance_ms(61_000);
    h.heartbeat(&late[100..]);
    h.room.update_settings(SettingsPatch { max_active: Some(300), ..SettingsPatch::default() }).unwrap();
    h.run_ms(1_000, PLENTY);
    let replica = harness(6_000, 100, 60);
    replica.clock.set(h.clock.now());
    for record in h.sink.0.lock().unwrap().iter() {
        replica.room.apply(record).unwrap();
    }
    assert_eq!(replica.room.stats(), h.room.stats());
    for buyer in lobby.iter().chain(&late) {
        let (a, b) = (h.room.peek(*buyer, PLENTY), replica.room.peek(*buyer, PLENTY));
        assert_eq!(a.map(|s| (s.state, s.position)), b.map(|s| (s.state, s.position)), "buyer {}", buyer.0);
    }
    assert!(replica.room.apply(&RoomRecord::Opened { at: h.clock.now() }).is_err(), "a bad record is refused");
}

#[test]
fn heartbeats_hold_months_after_the_event_was_created() {
    // An event created 60 days before its on-sale (49.7 days overflow u32 milliseconds).
    let h = harness(600, 10, 60);
    let later = UnixTimeMs(EPOCH.0 + 60 * 86_400_000);
    let room = WaitingRoom::new(
        RoomConfig {
            on_sale_at: later,
            closes_at: UnixTimeMs(later.0 + 86_400_000),
            access_ttl_s: 600,
            heartbeat_grace_s: 60,
            poll_tolerance_percent: 90,
            seed: SEED,
        },
        RoomSettings { admit_per_minute: 600, max_active: 10, paused: false },
        EPOCH,
        h.clock.clone(),
        h.sink.clone(),
    );
    h.clock.set(UnixTimeMs(later.0 - 5_000));
    let (polling, _) = room.join().unwrap();
    let (silent, _) = room.join().unwrap();
    room.status(polling, PLENTY).unwrap();
    assert!(matches!(room.status(polling, PLENTY), Err(RoomError::TooEarly { .. })), "too-early still works");
    h.clock.set(later);
    room.tick(PLENTY).unwrap();
    h.clock.advance_ms(120_000);
    room.status(polling, PLENTY).unwrap(); // the other one stays silent, 125 s now
    room.tick(PLENTY).unwrap();
    assert_eq!(room.peek(polling, PLENTY).unwrap().state, BuyerState::Admitted);
    assert_eq!(room.peek(silent, PLENTY).unwrap().state, BuyerState::Expired, "the silent buyer was skipped");
}

#[test]
fn silent_buyers_stop_counting_ahead_even_while_admission_is_stalled() {
    let h = harness(600, 1, 60);
    h.go_on_sale();
    let buyers = h.join(3);
    h.run_ms(1_000, PLENTY); // the first is admitted; the cap (1) stalls the rest
    let (silent, polling) = (buyers[1], buyers[2]);
    for _ in 0..7 {
        h.clock.advance_ms(10_000);
        h.heartbeat(&[polling]);
    }
    assert_eq!(h.status(polling).position, Some(2), "the silent buyer still counts");
    assert_eq!(h.room.drop_silent().unwrap(), 1);
    assert_eq!(h.status(polling).position, Some(1), "and no longer does after the sweep");
    assert_eq!(h.status(silent).state, BuyerState::Expired);
    assert_eq!(h.room.drop_silent().unwrap(), 0);
}

/// An `admitted` status is what the gateway hands an access token out for:
/// it must come with the access's end, and the room must agree the buyer may
/// shop. A status whose clock reading is older than the tick that ended the
/// access (the reading taken before the lock, the tick between) used to say
/// `admitted` for a buyer the room no longer let shop, so the answer had no token.
#[test]
fn an_admitted_status_always_comes_with_its_access_even_across_an_expiry_tick() {
    let h = harness(60_000, 10, 3_600);
    h.go_on_sale();
    let buyer = h.join(1)[0];
    h.run_ms(100, PLENTY);
    let admitted = h.status(buyer);
    assert_eq!(admitted.state, BuyerState::Admitted);
    let ends = admitted.access_expires_at.expect("admitted comes with the access's end");
    assert!(h.room.may_shop(buyer));
    // The tick that ends the access reads the clock at the end ...
    h.clock.set(ends);
    h.room.tick(PLENTY).unwrap();
    // ... and a status computed with a reading taken just before it.
    h.clock.set(UnixTimeMs(ends.0 - 1));
    for status in [h.status(buyer), h.room.status(buyer, PLENTY).unwrap()] {
        assert_eq!(status.state == BuyerState::Admitted, status.access_expires_at.is_some());
        if status.state == BuyerState::Admitted {
            assert!(h.room.may_shop(buyer), "admitted, yet the room refuses the buyer's access: {status:?}");
        }
    }
    assert_eq!(h.status(buyer).state, BuyerState::Expired, "the access ended at the tick");
    assert!(!h.room.may_shop(buyer));
}

#[test]
fn a_buyer_joining_after_the_on_sale_is_in_line_even_before_the_next_tick() {
    let h = harness(60, 10, 3_600);
    let early = h.join(3);
    h.clock.set(UnixTimeMs(ON_SALE.0 + 50)); // no tick since the on-sale
    let late = h.join(1)[0];
    let status = h.status(late);
    assert_eq!((status.state, status.position), (BuyerState::Waiting, Some(4)), "behind the lobby, not in it");
    assert!(early.iter().all(|b| h.status(*b).state == BuyerState::Waiting), "the lottery was drawn");
    assert!(h.room.stats().opened);
    assert!(!h.room.tick(PLENTY).unwrap().opened, "drawn once");
}

#[test]
fn a_settings_patch_that_changes_nothing_logs_nothing() {
    let h = harness(600, 10, 3_600);
    let logged = || h.sink.0.lock().unwrap().len();
    let before = logged();
    let (settings, receipt) = h.room.update_settings(SettingsPatch::default()).unwrap();
    assert_eq!((settings, receipt, logged()), (h.room.stats().settings, Receipt::NONE, before), "an empty patch");
    let same = SettingsPatch { admit_per_minute: Some(600), paused: Some(false), ..SettingsPatch::default() };
    assert_eq!(h.room.update_settings(same).unwrap().1, Receipt::NONE, "the same values");
    assert_eq!(logged(), before);
    h.room.update_settings(SettingsPatch { max_active: Some(20), ..SettingsPatch::default() }).unwrap();
    assert_eq!(logged(), before + 1, "a real change is logged");
}

/// `available` places left, none held, at `tickets_per_order`.
fn places(available: u64, tickets_per_order: f64) -> Supply {
    Supply { remaining: available, available, tickets_per_order }
}

#[test]
fn admission_promises_no_more_buyers_than_the_places_left_can_serve() {
    let h = harness(60_000, 1_000, 3_600);
    h.go_on_sale();
    let buyers = h.join(10);
    let two_left = places(2, 2.0);
    assert_eq!(h.run_ms(5_000, two_left), 1, "two places at two tickets an order: one buyer, however fast the rate");
    assert_eq!(h.status(buyers[0]).state, BuyerState::Admitted);
    // The buyer holds both: nothing left to promise until they come back.
    h.room.note_hold(buyers[0]);
    let all_held = Supply { remaining: 2, available: 0, tickets_per_order: 2.0 };
    assert_eq!(h.run_ms(5_000, all_held), 0);
    // The hold expires (the buyer, still admitted, no longer looks): one more.
    assert_eq!(h.run_ms(5_000, two_left), 1, "admission resumes as the hold expires");
    assert_eq!(h.status(buyers[1]).state, BuyerState::Admitted);
    // The second buyer leaves without holding: the places are free again for the next.
    h.room.leave(buyers[1]).unwrap();
    assert_eq!(h.run_ms(5_000, two_left), 1);
    assert_eq!(h.status(buyers[2]).state, BuyerState::Admitted);
    assert_eq!(h.status(buyers[3]).state, BuyerState::Waiting);
}

#[test]
fn admission_tracks_buyers_in_flight_with_the_documented_margin() {
    let h = harness(60_000, 1_000, 3_600);
    h.go_on_sale();
    let buyers = h.join(200);
    // Buyers that `available` places serve at 2 tickets an order, with the margin.
    let served = |available: u64| (available as f64 / (2.0 * ADMISSION_MARGIN)).ceil() as usize;
    assert!((1.0..=1.5).contains(&ADMISSION_MARGIN), "a margin, not a different rule");
    let first = h.run_ms(5_000, places(100, 2.0));
    assert_eq!(first, served(100));
    // Twenty of them hold 2 each: 60 places left for those still looking.
    for buyer in &buyers[..20] {
        h.room.note_hold(*buyer);
    }
    let second = h.run_ms(5_000, Supply { remaining: 100, available: 60, tickets_per_order: 2.0 });
    assert_eq!(second, served(60) - (first - 20));
    // A cancelled order (or a released hold) brings 50 more places back.
    let third = h.run_ms(5_000, Supply { remaining: 150, available: 110, tickets_per_order: 2.0 });
    assert_eq!(third, served(110) - served(60));
    // Holding twice, or holding when not admitted, changes nothing.
    h.room.note_hold(buyers[0]);
    h.room.note_hold(buyers[199]);
    assert_eq!(h.run_ms(5_000, Supply { remaining: 150, available: 110, tickets_per_order: 2.0 }), 0);
}

#[test]
fn a_stalled_line_says_why() {
    let h = harness(60_000, 2, 3_600);
    h.go_on_sale();
    let buyers = h.join(10);
    let plenty = |buyer: BuyerId| h.room.peek(buyer, PLENTY).unwrap();
    assert_eq!(plenty(buyers[0]).reason, None, "the line moves: no reason given");
    h.run_ms(1_000, PLENTY);
    let capped = plenty(buyers[5]);
    assert_eq!(capped.reason, Some(StallReason::MaxActiveReached));
    assert!(capped.eta_s.is_some());
    let held = Supply { remaining: 40, available: 0, tickets_per_order: 2.0 };
    let waiting_for_seats = h.room.peek(buyers[5], held).unwrap();
    assert_eq!(waiting_for_seats.reason, Some(StallReason::WaitingForReleasedSeats), "seats first: the deeper cause");
    assert!(waiting_for_seats.eta_s.is_some());
    h.room.update_settings(SettingsPatch { paused: Some(true), ..SettingsPatch::default() }).unwrap();
    let paused = plenty(buyers[5]);
    assert_eq!((paused.reason, paused.eta_s), (Some(StallReason::Paused), None), "no ETA only while paused");
    assert_eq!(StallReason::WaitingForReleasedSeats.code(), "waiting_for_released_seats");
    assert_eq!(StallReason::MaxActiveReached.code(), "max_active_reached");
    assert_eq!(StallReason::Paused.code(), "paused");
}

#[test]
fn while_stalled_the_eta_grows_at_every_poll() {
    let h = harness(600, 1_000, 3_600);
    h.go_on_sale();
    let buyers = h.join(100);
    let all_held = Supply { remaining: 40, available: 0, tickets_per_order: 2.0 };
    // Nothing to sell for 70 s, then places for a moment: a burst of admissions, and the stall again.
    h.run_ms(70_000, all_held);
    let admitted = h.run_ms(1_000, places(1_000, 2.0));
    assert_eq!(admitted, 10);
    let front = buyers.iter().copied().find(|b| h.status(*b).state == BuyerState::Waiting).unwrap();
    let mut last_eta = 0;
    for poll in 0..20 {
        h.clock.advance_ms(5_000);
        h.room.tick(all_held).unwrap();
        let status = h.room.status(front, all_held).unwrap();
        assert_eq!(status.position, Some(1));
        assert_eq!(status.reason, Some(StallReason::WaitingForReleasedSeats));
        let eta = status.eta_s.expect("an ETA while stalled (not paused)");
        assert!(eta > last_eta, "poll {poll}: the ETA must grow while nothing moves ({eta} after {last_eta})");
        assert!(status.poll_after_ms <= 2_000, "the front keeps polling often to see its turn");
        last_eta = eta;
    }
    assert!(last_eta >= 100, "stalled 100 s: the ETA says so ({last_eta} s)");
    // Places come back: the front is admitted, and the ETA of the next falls back to the pace.
    h.run_ms(1_000, places(1_000, 2.0));
    assert_eq!(h.status(front).state, BuyerState::Admitted);
}

#[test]
fn the_first_seconds_after_the_opening_measure_the_pace_that_really_passed() {
    let h = harness(3_000, 100_000, 3_600);
    h.join(5_000);
    h.clock.set(UnixTimeMs(ON_SALE.0 + 700)); // the lottery runs late in its second
    assert!(h.room.tick(PLENTY).unwrap().opened);
    assert_eq!(h.run_ms(300, PLENTY), 15, "50 a second");
    let order = h.room.lobby_order();
    let status = h.status(order[1_014]);
    assert_eq!(status.position, Some(1_000));
    // 1,000 at 3,000 a minute: 20 s. Counting the young second as whole would say 66 s.
    assert!(status.eta_s.is_some_and(|eta| (19..=21).contains(&eta)), "{:?}", status.eta_s);
    h.run_ms(90_000, PLENTY);
    let measured = h.room.stats().measured_admit_per_minute;
    assert!((2_990..=3_010).contains(&measured), "a second under way counts for what has passed: {measured}");
}

#[test]
fn a_settings_change_out_of_the_spec_ranges_is_refused_naming_the_setting_and_logs_nothing() {
    let h = harness(600, 10, 3_600);
    let logged = || h.sink.0.lock().unwrap().len();
    let before = logged();
    let zero = SettingsPatch { max_active: Some(0), ..SettingsPatch::default() };
    match h.room.update_settings(zero) {
        Err(RoomError::InvalidSetting(invalid)) => {
            assert_eq!((invalid.field.as_str(), invalid.message.as_str()), ("max_active", "must be at least 1"))
        }
        other => panic!("{other:?}"),
    }
    let fast = SettingsPatch { admit_per_minute: Some(1_000_001), ..SettingsPatch::default() };
    assert!(matches!(h.room.update_settings(fast), Err(RoomError::InvalidSetting(f)) if f.field == "admit_per_minute"));
    assert_eq!(logged(), before);
    assert_eq!(h.room.stats().settings.max_active, 10);
}

#[test]
fn a_keyed_join_after_the_on_sale_is_in_line_like_any_other() {
    let h = harness(60, 10, 3_600);
    h.join(2);
    h.clock.set(UnixTimeMs(ON_SALE.0 + 50)); // no tick since the on-sale
    let key = JoinKey::parse("Vq3x8NfK2mPz7RbT1cWy9A").unwrap();
    let joined = h.room.join_with_key(key).unwrap();
    let status = h.status(joined.buyer);
    assert_eq!((status.state, status.position), (BuyerState::Waiting, Some(3)), "behind the lobby, not in it");
}
