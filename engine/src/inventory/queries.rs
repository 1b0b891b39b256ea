//! Reads: availability counts, the seat map, holds and orders, pages of
//! orders, and a place in words. None of them changes state.

use serde::Serialize;

use super::buyers::{Hold, Order};
use super::record::Place;
use super::shard::{Counts, SeatState};
use super::{Inventory, Receipt};
use crate::ids::{BuyerId, HoldId, OrderId, SectionIndex, ShardIndex};
use crate::layout::{SectionKind, ShardKind};
use crate::sync::Ordering;
use crate::time::UnixTimeMs;

/// A ticket's place in words, borrowed from the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TicketPlace<'a> {
    pub section: &'a str,
    pub row: Option<&'a str>,
    pub number: Option<u32>,
    pub tier: &'a str,
    pub price_cents: u64,
}

/// Places by state, per section, per tier and in total.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Availability {
    pub sections: Vec<Counts>,
    pub tiers: Vec<Counts>,
    pub total: Counts,
}

/// What a buyer can take now in one section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SectionSeats {
    Reserved { section: SectionIndex, rows: Vec<(ShardIndex, Vec<u32>)> },
    GeneralAdmission { section: SectionIndex, available: u64 },
}

/// Where a page of orders ends: the order's log position, then its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderCursor {
    pub receipt: Receipt,
    pub order: OrderId,
}

impl OrderCursor {
    pub fn of(order: &Order) -> Self {
        Self { receipt: order.receipt, order: order.id }
    }
}

impl Inventory {
    /// Counts from every shard, read without locks (each shard's counts are
    /// consistent; the sum is a moment-by-moment view).
    pub fn availability(&self) -> Availability {
        let mut availability = Availability {
            sections: vec![Counts::default(); self.layout.sections.len()],
            tiers: vec![Counts::default(); self.layout.tiers.len()],
            total: Counts::default(),
        };
        for (shard, shard_layout) in self.shards.iter().zip(&self.layout.shards) {
            let counts = shard.published.read();
            availability.sections[shard_layout.section.0 as usize].add(&counts);
            availability.tiers[shard_layout.tier.0 as usize].add(&counts);
            availability.total.add(&counts);
        }
        availability
    }

    /// Tickets sold and their revenue, by section and by tier (a row may
    /// have its own tier, so a section's revenue sums its rows' prices).
    pub fn sales(&self) -> Sales {
        let mut sales = Sales {
            sections: vec![Sold::default(); self.layout.sections.len()],
            tiers: vec![Sold::default(); self.layout.tiers.len()],
            total: Sold::default(),
        };
        for (shard, shard_layout) in self.shards.iter().zip(&self.layout.shards) {
            let sold = shard.published.read().sold;
            let revenue_cents = sold * self.layout.tier(shard_layout.tier).price_cents;
            for into in [
                &mut sales.sections[shard_layout.section.0 as usize],
                &mut sales.tiers[shard_layout.tier.0 as usize],
                &mut sales.total,
            ] {
                into.tickets += sold;
                into.revenue_cents += revenue_cents;
            }
        }
        sales
    }

    /// What can be taken now, section by section: seat numbers per row, or places.
    pub fn seat_map(&self) -> Vec<SectionSeats> {
        let now = self.clock.now();
        let mut sections = Vec::with_capacity(self.layout.sections.len());
        for (index, section) in self.layout.sections.iter().enumerate() {
            let index = SectionIndex(index as u32);
            let entry = match section.kind {
                SectionKind::Reserved { .. } => SectionSeats::Reserved {
                    section: index,
                    rows: self
                        .layout
                        .section_shards(index)
                        .map(|row| (row, self.free_seat_numbers(row, now)))
                        .collect(),
                },
                SectionKind::GeneralAdmission { .. } => {
                    let available = self.layout.section_shards(index).map(|s| self.free_places(s, now)).sum();
                    SectionSeats::GeneralAdmission { section: index, available }
                }
            };
            sections.push(entry);
        }
        sections
    }

    pub fn hold_info(&self, hold_id: HoldId) -> Option<Hold> {
        let shard = hold_id.shard()?;
        self.buyer_shards[shard].lock().holds.get(&hold_id).cloned()
    }

    pub fn order(&self, order_id: OrderId) -> Option<Order> {
        let shard = order_id.shard()?;
        self.buyer_shards[shard].lock().orders.get(&order_id).cloned()
    }

    /// A page of orders: at most `limit`, after `after`.
    ///
    /// Orders come in the order they were logged (those restored from a
    /// snapshot first, by id), and only those logged at or before `up_to`:
    /// pass the log's durable sequence read before the call, and every order
    /// up to it has been applied, so a later page never skips one.
    pub fn orders_page(&self, after: Option<OrderCursor>, limit: usize, up_to: Receipt) -> Vec<Order> {
        let mut page: Vec<Order> = Vec::new();
        for buyer_shard in self.buyer_shards.iter() {
            let shard = buyer_shard.lock();
            let listed =
                shard.orders.values().filter(|o| o.receipt <= up_to && after.is_none_or(|a| OrderCursor::of(o) > a));
            page.extend(listed.cloned());
            page.sort_unstable_by_key(OrderCursor::of);
            page.truncate(limit);
        }
        page
    }

    /// The ids of the cancelled orders (a door refuses their tickets, offline too).
    pub fn cancelled_order_ids(&self) -> Vec<OrderId> {
        let mut ids = Vec::new();
        for buyer_shard in self.buyer_shards.iter() {
            let shard = buyer_shard.lock();
            ids.extend(shard.orders.values().filter(|o| o.status == super::OrderStatus::Cancelled).map(|o| o.id));
        }
        ids.sort_unstable_by_key(|id| id.0);
        ids
    }

    /// Orders that are not cancelled.
    pub fn confirmed_orders(&self) -> u64 {
        self.confirmed_orders.load(Ordering::Relaxed)
    }

    /// Tickets `buyer` holds (unexpired) or bought: what the per-buyer limit counts.
    pub fn buyer_tickets(&self, buyer: BuyerId) -> u32 {
        let now = self.clock.now();
        self.buyer_shards[buyer.shard()].lock().buyers.get(&buyer).map_or(0, |b| b.tickets_counted(now))
    }

    /// A seat's state (a held seat whose hold expired still reads as held
    /// until it is reclaimed).
    pub fn seat_state(&self, shard: ShardIndex, offset: u16) -> SeatState {
        self.shards[shard.0 as usize].state.lock().seat(offset)
    }

    /// The words and price of one place (a GA place stands for `tickets()` tickets).
    pub fn describe(&self, place: &Place) -> TicketPlace<'_> {
        let shard_layout = self.layout.shard(place.shard());
        let section = self.layout.section(shard_layout.section);
        let tier = self.layout.tier(shard_layout.tier);
        let (row, number) = match (place, &shard_layout.kind) {
            (Place::Seat { shard, offset }, ShardKind::Row { id, .. }) => {
                (Some(&**id), Some(self.layout.seat_number(*shard, *offset)))
            }
            _ => (None, None),
        };
        TicketPlace { section: &section.id, row, number, tier: &tier.id, price_cents: tier.price_cents }
    }

    fn free_seat_numbers(&self, row: ShardIndex, now: UnixTimeMs) -> Vec<u32> {
        let state = self.shards[row.0 as usize].state.lock();
        (0..state.cells.len() as u16)
            .filter(|&offset| state.seat_is_free(offset, now))
            .map(|offset| self.layout.seat_number(row, offset))
            .collect()
    }

    fn free_places(&self, slice: ShardIndex, now: UnixTimeMs) -> u64 {
        let state = self.shards[slice.0 as usize].state.lock();
        let expired: u64 = state.holds.values().filter(|h| h.expires_at <= now).map(|h| u64::from(h.places)).sum();
        state.counts.available + expired
    }
}

/// Tickets sold and what they brought in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sold {
    pub tickets: u64,
    pub revenue_cents: u64,
}

/// Sales by section and by tier, in layout order, and in all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sales {
    pub sections: Vec<Sold>,
    pub tiers: Vec<Sold>,
    pub total: Sold,
}
