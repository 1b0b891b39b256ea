//! Turning a request into places: resolving names, and finding the best
//! available seats under the shard locks. Searches lock one row at a time and
//! keep only the shards whose places they chose.

use smallvec::SmallVec;

use super::best::{best_runs, free_runs_longest_first};
use super::holds::{Target, Wanted};
use super::record::{places_in_lock_order, InventoryRecord, Place, Places};
use super::{Candidate, Fit, HoldRequest, Inventory, InventoryError, Locked, SeatLabel, SeatRequest};
use crate::ids::{BuyerId, SectionIndex, ShardIndex};
use crate::layout::SectionKind;
use crate::limits::MAX_RESERVED_SEATS_PER_EVENT;
use crate::time::UnixTimeMs;

impl Inventory {
    pub(super) fn resolve_hold_request<'s>(&'s self, request: &HoldRequest) -> Result<Target<'s>, InventoryError> {
        let limit = self.settings.per_buyer_limit;
        let (scope, quantity, flagged) = match request {
            HoldRequest::Seats(seats) => return Ok(Target::Seats(self.resolve_seats(seats, limit)?)),
            HoldRequest::BestInSection { section, quantity } => (Ok(section), *quantity, false),
            HoldRequest::BestInTier { tier, quantity } => (Err(tier), *quantity, false),
            HoldRequest::AccessibleInSection { section, quantity } => (Ok(section), *quantity, true),
            HoldRequest::AccessibleInTier { tier, quantity } => (Err(tier), *quantity, true),
        };
        // The quantity is checked before the names, whichever is wrong.
        check_quantity("quantity", quantity, limit)?;
        // `Ok`: a section's name; `Err`: a tier's.
        let candidates = match scope {
            Ok(section) => self.section_scope(section)?,
            Err(tier) => self.tier_scope(tier)?,
        };
        Ok(Target::Best { candidates, quantity, flagged })
    }

    fn section_scope(&self, section: &str) -> Result<&[Candidate], InventoryError> {
        let index = self
            .layout
            .section_index(section)
            .ok_or_else(|| InventoryError::UnknownSection { field: "section".into(), id: section.into() })?;
        Ok(std::slice::from_ref(&self.section_candidates[index.0 as usize]))
    }

    fn tier_scope(&self, tier: &str) -> Result<&[Candidate], InventoryError> {
        let index = self
            .layout
            .tier_index(tier)
            .ok_or_else(|| InventoryError::UnknownTier { field: "tier".into(), id: tier.into() })?;
        Ok(&self.tier_candidates[index.0 as usize])
    }

    /// Resolves named seats to places in lock order; at most `max` of them.
    fn resolve_seats(&self, seats: &[SeatRequest], max: u32) -> Result<Places, InventoryError> {
        check_quantity("seats", u32::try_from(seats.len()).unwrap_or(u32::MAX), max)?;
        let mut resolved: SmallVec<[(Place, usize); 4]> = SmallVec::with_capacity(seats.len());
        for (i, seat) in seats.iter().enumerate() {
            resolved.push((self.resolve_seat(seat, i)?, i));
        }
        resolved.sort_unstable();
        if let Some(pair) = resolved.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            let later = pair[0].1.max(pair[1].1);
            return Err(InventoryError::DuplicateSeat { field: format!("seats[{later}]") });
        }
        Ok(resolved.into_iter().map(|(place, _)| place).collect())
    }

    fn resolve_seat(&self, seat: &SeatRequest, i: usize) -> Result<Place, InventoryError> {
        let section = self.layout.section_index(&seat.section).ok_or_else(|| InventoryError::UnknownSection {
            field: format!("seats[{i}].section"),
            id: seat.section.clone(),
        })?;
        if let SectionKind::GeneralAdmission { .. } = self.layout.section(section).kind {
            return Err(InventoryError::NotReservedSeating {
                field: format!("seats[{i}].section"),
                section: seat.section.clone(),
            });
        }
        let shard = self.layout.row_shard(section, &seat.row).ok_or_else(|| InventoryError::UnknownRow {
            field: format!("seats[{i}].row"),
            section: seat.section.clone(),
            id: seat.row.clone(),
        })?;
        let offset = self.layout.seat_offset(shard, seat.number).ok_or_else(|| InventoryError::UnknownSeat {
            field: format!("seats[{i}].number"),
            section: seat.section.clone(),
            row: seat.row.clone(),
            number: seat.number,
        })?;
        Ok(Place::Seat { shard, offset })
    }

    /// Frees a shard's expired holds (as a logged change) when any are due.
    pub(super) fn reclaim_if_due(
        &self,
        locked: &mut Locked<'_>,
        shard: ShardIndex,
        now: UnixTimeMs,
    ) -> Result<(), InventoryError> {
        if locked.shard(shard).has_expired_holds(now) {
            self.commit(locked, &InventoryRecord::ExpiredReclaimed { shard, at: now })?;
        }
        Ok(())
    }

    /// Locks the shards of named seats and checks that every seat is free.
    pub(super) fn lock_chosen_seats<'a>(
        &'a self,
        locked: &mut Locked<'a>,
        places: Places,
        now: UnixTimeMs,
    ) -> Result<Places, InventoryError> {
        self.lock_places(locked, &places);
        for index in 0..locked.shards.len() {
            let shard = locked.shards[index].0;
            self.reclaim_if_due(locked, shard, now)?;
        }
        let unavailable: Vec<SeatLabel> = places
            .iter()
            .filter(|place| !matches!(place, Place::Seat { shard, offset } if locked.shard(*shard).seat_is_free(*offset, now)))
            .map(|place| self.label(place))
            .collect();
        if !unavailable.is_empty() {
            return Err(InventoryError::SeatsUnavailable { seats: unavailable });
        }
        Ok(places)
    }

    /// Best available: adjacent without an orphan, then adjacent with one
    /// (general admission counts as adjacent), then split across rows.
    /// A request for flagged seats takes adjacent ones holding at least one
    /// accessible seat, never split (a wheelchair place and its companions
    /// sit together), and never general admission, which has none.
    pub(super) fn lock_best<'a>(
        &'a self,
        locked: &mut Locked<'a>,
        wanted: Wanted<'_>,
        buyer: BuyerId,
        now: UnixTimeMs,
    ) -> Result<(Places, Fit), InventoryError> {
        let Wanted { candidates, quantity, flagged } = wanted;
        let n = quantity as usize;
        for allow_orphan in [false, true] {
            for candidate in candidates {
                let found = match candidate {
                    Candidate::Rows(rows) => self.try_adjacent(locked, rows, n, (allow_orphan, flagged), now)?,
                    Candidate::Ga(section) if !allow_orphan && !flagged => {
                        self.try_ga(locked, *section, quantity, buyer, now)?
                    }
                    Candidate::Ga(_) => None,
                };
                if let Some((places, fit)) = found {
                    return Ok((places, fit));
                }
            }
        }
        for candidate in candidates.iter().filter(|_| !flagged) {
            if let Candidate::Rows(rows) = candidate {
                if let Some(places) = self.try_split(locked, rows, n, now)? {
                    let fit = split_fit(&places);
                    return Ok((places, fit));
                }
            }
        }
        let available = candidates.iter().map(|c| self.candidate_free_hint(c)).sum();
        Err(InventoryError::NotEnoughAvailable { requested: quantity, available })
    }

    /// Whether best available may choose the seat at `offset` of `row`: free,
    /// and flagged exactly when the buyer asked for flagged seats.
    fn choosable<'s>(
        &'s self,
        state: &'s super::shard::ShardState,
        row: ShardIndex,
        flagged: bool,
        now: UnixTimeMs,
    ) -> impl Fn(usize) -> bool + 's {
        let layout = self.layout.shard(row);
        move |i| state.seat_is_free(i as u16, now) && layout.is_flagged(i as u16) == flagged
    }

    fn try_adjacent<'a>(
        &'a self,
        locked: &mut Locked<'a>,
        rows: &[ShardIndex],
        n: usize,
        (allow_orphan, flagged): (bool, bool),
        now: UnixTimeMs,
    ) -> Result<Option<(Places, Fit)>, InventoryError> {
        for &row in rows {
            if self.shards[row.0 as usize].published.maybe_free() < n as u64 {
                continue;
            }
            self.lock_shard(locked, row);
            let state = locked.shard(row);
            let layout = self.layout.shard(row);
            let wanted = |i: usize| !flagged || layout.is_accessible(i as u16);
            let (clean, any) = best_runs(state.cells.len(), n, self.choosable(state, row, flagged, now), wanted);
            let (start, fit) = match (clean, any) {
                (Some(start), _) => (start, Fit::Adjacent),
                (None, Some(start)) if allow_orphan => (start, Fit::AdjacentWithOrphan),
                _ => {
                    locked.shards.pop();
                    continue;
                }
            };
            self.reclaim_if_due(locked, row, now)?;
            let places = (start..start + n).map(|offset| Place::Seat { shard: row, offset: offset as u16 }).collect();
            return Ok(Some((places, fit)));
        }
        Ok(None)
    }

    /// Splits a group across the rows of one section, longest free runs first,
    /// front rows first. Locks all rows with free seats, in order.
    fn try_split<'a>(
        &'a self,
        locked: &mut Locked<'a>,
        rows: &[ShardIndex],
        n: usize,
        now: UnixTimeMs,
    ) -> Result<Option<Places>, InventoryError> {
        let mut places = Places::new();
        for &row in rows {
            if places.len() == n {
                break;
            }
            if self.shards[row.0 as usize].published.maybe_free() == 0 {
                continue;
            }
            self.lock_shard(locked, row);
            let state = locked.shard(row);
            let mut chosen: SmallVec<[u16; 8]> = SmallVec::new();
            for (start, length) in free_runs_longest_first(state.cells.len(), self.choosable(state, row, false, now)) {
                let take = length.min(n - places.len() - chosen.len());
                chosen.extend((start..start + take).map(|offset| offset as u16));
                if places.len() + chosen.len() == n {
                    break;
                }
            }
            chosen.sort_unstable();
            places.extend(chosen.into_iter().map(|offset| Place::Seat { shard: row, offset }));
        }
        if places.len() < n {
            locked.shards.clear();
            return Ok(None);
        }
        locked.unlock_shards_except(&places);
        for index in 0..locked.shards.len() {
            let shard = locked.shards[index].0;
            self.reclaim_if_due(locked, shard, now)?;
        }
        debug_assert!(places_in_lock_order(&places));
        Ok(Some(places))
    }

    /// General admission: from the buyer's home slice if it can serve the
    /// whole group, else from several slices (all locked, in order).
    fn try_ga<'a>(
        &'a self,
        locked: &mut Locked<'a>,
        section: SectionIndex,
        quantity: u32,
        buyer: BuyerId,
        now: UnixTimeMs,
    ) -> Result<Option<(Places, Fit)>, InventoryError> {
        let slices = self.layout.section(section).shards.clone();
        let home = ShardIndex(slices.start + home_slice(buyer, slices.len() as u32));
        if self.shards[home.0 as usize].published.maybe_free() >= u64::from(quantity) {
            self.lock_shard(locked, home);
            self.reclaim_if_due(locked, home, now)?;
            if locked.shard(home).counts.available >= u64::from(quantity) {
                let places = SmallVec::from_slice(&[Place::Ga { shard: home, places: quantity }]);
                return Ok(Some((places, Fit::GeneralAdmission)));
            }
            locked.shards.pop();
        }
        let maybe_free: u64 = slices.clone().map(|s| self.shards[s as usize].published.maybe_free()).sum();
        if maybe_free < u64::from(quantity) {
            return Ok(None);
        }
        let mut wanted = quantity;
        let mut places = Places::new();
        for slice in slices.map(ShardIndex) {
            self.lock_shard(locked, slice);
            self.reclaim_if_due(locked, slice, now)?;
            let take = u32::try_from(locked.shard(slice).counts.available).unwrap_or(u32::MAX).min(wanted);
            if take > 0 {
                places.push(Place::Ga { shard: slice, places: take });
                wanted -= take;
            }
            if wanted == 0 {
                break;
            }
        }
        if wanted > 0 {
            locked.shards.clear();
            return Ok(None);
        }
        locked.unlock_shards_except(&places);
        Ok(Some((places, Fit::GeneralAdmission)))
    }

    fn candidate_free_hint(&self, candidate: &Candidate) -> u64 {
        let available = |shard: ShardIndex| self.shards[shard.0 as usize].published.read().available;
        match candidate {
            Candidate::Rows(rows) => rows.iter().copied().map(available).sum(),
            Candidate::Ga(section) => self.layout.section_shards(*section).map(available).sum(),
        }
    }

    pub(super) fn set_seats_blocked(
        &self,
        seats: &[SeatRequest],
        blocked: bool,
    ) -> Result<super::Receipt, InventoryError> {
        let places = self.resolve_seats(seats, MAX_RESERVED_SEATS_PER_EVENT)?;
        let now = self.clock.now();
        let mut locked = Locked::new(None);
        self.lock_places(&mut locked, &places);
        for index in 0..locked.shards.len() {
            let shard = locked.shards[index].0;
            self.reclaim_if_due(&mut locked, shard, now)?;
        }
        let wrong: Vec<SeatLabel> = places
            .iter()
            .filter(|place| {
                let Place::Seat { shard, offset } = **place else { return true };
                let state = locked.shard(shard).seat(offset);
                state != if blocked { super::SeatState::Available } else { super::SeatState::Blocked }
            })
            .map(|place| self.label(place))
            .collect();
        match (wrong.is_empty(), blocked) {
            (false, true) => return Err(InventoryError::SeatsUnavailable { seats: wrong }),
            (false, false) => return Err(InventoryError::NotBlocked { seats: wrong }),
            _ => {}
        }
        let record = if blocked {
            InventoryRecord::PlacesBlocked { places, at: now }
        } else {
            InventoryRecord::PlacesUnblocked { places, at: now }
        };
        self.commit(&mut locked, &record)
    }

    pub(super) fn set_places_blocked(
        &self,
        section_id: &str,
        count: u32,
        blocked: bool,
    ) -> Result<super::Receipt, InventoryError> {
        let section = self
            .layout
            .section_index(section_id)
            .ok_or_else(|| InventoryError::UnknownSection { field: "section".into(), id: section_id.into() })?;
        if let SectionKind::Reserved { .. } = self.layout.section(section).kind {
            return Err(InventoryError::NotGeneralAdmission { field: "section".into(), section: section_id.into() });
        }
        check_quantity("places", count, u32::MAX)?;
        let now = self.clock.now();
        let mut locked = Locked::new(None);
        let mut wanted = count;
        let mut places = Places::new();
        let mut have = 0u64;
        for slice in self.layout.section_shards(section) {
            self.lock_shard(&mut locked, slice);
            self.reclaim_if_due(&mut locked, slice, now)?;
            let counts = locked.shard(slice).counts;
            let movable = if blocked { counts.available } else { counts.blocked };
            have += movable;
            let take = u32::try_from(movable).unwrap_or(u32::MAX).min(wanted);
            if take > 0 {
                places.push(Place::Ga { shard: slice, places: take });
                wanted -= take;
            }
        }
        if wanted > 0 {
            return Err(if blocked {
                InventoryError::NotEnoughAvailable { requested: count, available: have }
            } else {
                InventoryError::NotBlocked { seats: Vec::new() }
            });
        }
        let record = if blocked {
            InventoryRecord::PlacesBlocked { places, at: now }
        } else {
            InventoryRecord::PlacesUnblocked { places, at: now }
        };
        self.commit(&mut locked, &record)
    }

    fn label(&self, place: &Place) -> SeatLabel {
        let described = self.describe(place);
        SeatLabel {
            section: described.section.to_owned(),
            row: described.row.unwrap_or_default().to_owned(),
            number: described.number.unwrap_or_default(),
        }
    }
}

fn check_quantity(field: &str, requested: u32, max: u32) -> Result<(), InventoryError> {
    if requested == 0 || requested > max {
        return Err(InventoryError::BadQuantity { field: field.into(), requested, max });
    }
    Ok(())
}

/// The slice a buyer's GA holds try first, so buyers spread over slices.
fn home_slice(buyer: BuyerId, slices: u32) -> u32 {
    let mixed = buyer.0.wrapping_mul(0xA24B_AED4_963E_E407);
    ((mixed >> 40) % u64::from(slices)) as u32
}

/// A split group in one row is not split across rows.
fn split_fit(places: &Places) -> Fit {
    let mut rows = places.iter().map(|place| match place {
        Place::Seat { shard, .. } => Some(*shard),
        _ => None,
    });
    let first = rows.next().flatten();
    if first.is_some() && rows.all(|row| row == first) {
        Fit::SplitInRow
    } else {
        Fit::SplitAcrossRows
    }
}
