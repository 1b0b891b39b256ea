//! The venue compiled from a valid spec: tiers, sections and shards by index.
//!
//! A shard is the unit of locking: one row of reserved seats, or one slice of a
//! general-admission pool. Shards are numbered section by section, rows front to
//! back, and that numbering is the global lock order. The layout is a pure
//! function of the spec, so indices written to the log mean the same on replay.

use std::ops::Range;

// aHash: every named-seat request looks up a section and a row by name.
use ahash::AHashMap as HashMap;

use crate::ids::{SectionIndex, ShardIndex, TierIndex};
use crate::limits::GA_SLICES_PER_SECTION;
use crate::spec::EventSpec;

#[derive(Clone, Debug)]
pub struct VenueLayout {
    pub tiers: Vec<TierLayout>,
    pub sections: Vec<SectionLayout>,
    pub shards: Vec<ShardLayout>,
    section_by_id: HashMap<Box<str>, SectionIndex>,
    tier_by_id: HashMap<Box<str>, TierIndex>,
}

#[derive(Clone, Debug)]
pub struct TierLayout {
    pub id: Box<str>,
    pub name: Box<str>,
    pub price_cents: u64,
}

#[derive(Clone, Debug)]
pub struct SectionLayout {
    pub id: Box<str>,
    pub name: Box<str>,
    pub tier: TierIndex,
    pub shards: Range<u32>,
    pub kind: SectionKind,
}

#[derive(Clone, Debug)]
pub enum SectionKind {
    Reserved { row_by_id: HashMap<Box<str>, ShardIndex> },
    GeneralAdmission { capacity: u32 },
}

#[derive(Clone, Debug)]
pub struct ShardLayout {
    pub section: SectionIndex,
    pub tier: TierIndex,
    pub kind: ShardKind,
}

#[derive(Clone, Debug)]
pub enum ShardKind {
    /// `flagged`: the offsets, ascending, of seats flagged accessible or
    /// companion, which best available keeps for buyers who ask for them;
    /// `accessible`: those flagged accessible.
    Row {
        id: Box<str>,
        first_seat: u32,
        seats: u16,
        flagged: Box<[u16]>,
        accessible: Box<[u16]>,
    },
    GaSlice {
        capacity: u32,
    },
}

impl ShardLayout {
    /// Whether the seat at `offset` is flagged accessible or companion.
    pub fn is_flagged(&self, offset: u16) -> bool {
        match &self.kind {
            ShardKind::Row { flagged, .. } => !flagged.is_empty() && flagged.binary_search(&offset).is_ok(),
            ShardKind::GaSlice { .. } => false,
        }
    }

    /// Whether the seat at `offset` is flagged accessible (room for a wheelchair).
    pub fn is_accessible(&self, offset: u16) -> bool {
        match &self.kind {
            ShardKind::Row { accessible, .. } => !accessible.is_empty() && accessible.binary_search(&offset).is_ok(),
            ShardKind::GaSlice { .. } => false,
        }
    }

    pub fn capacity(&self) -> u32 {
        match &self.kind {
            ShardKind::Row { seats, .. } => u32::from(*seats),
            ShardKind::GaSlice { capacity } => *capacity,
        }
    }
}

impl VenueLayout {
    /// Compiles a spec that passed [`EventSpec::validate`].
    pub(crate) fn compile(spec: &EventSpec) -> Self {
        let tiers: Vec<TierLayout> = spec
            .tiers
            .iter()
            .map(|t| TierLayout { id: t.id.as_str().into(), name: t.name.as_str().into(), price_cents: t.price_cents })
            .collect();
        let tier_by_id: HashMap<Box<str>, TierIndex> =
            tiers.iter().enumerate().map(|(i, t)| (t.id.clone(), TierIndex(i as u32))).collect();
        let mut layout =
            Self { tiers, sections: Vec::new(), shards: Vec::new(), section_by_id: HashMap::new(), tier_by_id };
        for section in &spec.sections {
            layout.add_section(section);
        }
        layout
    }

    fn add_section(&mut self, spec: &crate::spec::SectionSpec) {
        let index = SectionIndex(self.sections.len() as u32);
        let tier = self.tier_by_id[spec.tier.as_str()];
        let first_shard = self.shards.len() as u32;
        let kind = match (&spec.rows, spec.capacity) {
            (Some(rows), _) => {
                let mut row_by_id = HashMap::new();
                for row in rows {
                    let shard = ShardIndex(self.shards.len() as u32);
                    row_by_id.insert(row.id.as_str().into(), shard);
                    let row_tier = row.tier.as_deref().map_or(tier, |t| self.tier_by_id[t]);
                    let first_seat = row.first.unwrap_or(1);
                    let flagged = offsets(row.flagged_numbers(), first_seat);
                    let accessible = offsets(row.accessible.iter().flatten().copied(), first_seat);
                    self.shards.push(ShardLayout {
                        section: index,
                        tier: row_tier,
                        kind: ShardKind::Row {
                            id: row.id.as_str().into(),
                            first_seat,
                            seats: u16::try_from(row.seats).expect("validated: seats per row fit u16"),
                            flagged,
                            accessible,
                        },
                    });
                }
                SectionKind::Reserved { row_by_id }
            }
            (None, capacity) => {
                let capacity = capacity.expect("validated: a section without rows has a capacity");
                let slices = GA_SLICES_PER_SECTION.min(capacity);
                for slice in 0..slices {
                    let share = capacity / slices + u32::from(slice < capacity % slices);
                    self.shards.push(ShardLayout {
                        section: index,
                        tier,
                        kind: ShardKind::GaSlice { capacity: share },
                    });
                }
                SectionKind::GeneralAdmission { capacity }
            }
        };
        self.section_by_id.insert(spec.id.as_str().into(), index);
        self.sections.push(SectionLayout {
            id: spec.id.as_str().into(),
            name: spec.name.as_str().into(),
            tier,
            shards: first_shard..self.shards.len() as u32,
            kind,
        });
    }

    pub fn section_index(&self, id: &str) -> Option<SectionIndex> {
        self.section_by_id.get(id).copied()
    }

    pub fn tier_index(&self, id: &str) -> Option<TierIndex> {
        self.tier_by_id.get(id).copied()
    }

    pub fn section(&self, index: SectionIndex) -> &SectionLayout {
        &self.sections[index.0 as usize]
    }

    pub fn shard(&self, index: ShardIndex) -> &ShardLayout {
        &self.shards[index.0 as usize]
    }

    pub fn tier(&self, index: TierIndex) -> &TierLayout {
        &self.tiers[index.0 as usize]
    }

    /// The shards of a section, front to back.
    pub fn section_shards(&self, index: SectionIndex) -> impl Iterator<Item = ShardIndex> {
        self.section(index).shards.clone().map(ShardIndex)
    }

    /// The row shard of `row_id` in a reserved section.
    pub fn row_shard(&self, section: SectionIndex, row_id: &str) -> Option<ShardIndex> {
        match &self.section(section).kind {
            SectionKind::Reserved { row_by_id } => row_by_id.get(row_id).copied(),
            SectionKind::GeneralAdmission { .. } => None,
        }
    }

    /// The offset of seat `number` within a row shard.
    pub fn seat_offset(&self, shard: ShardIndex, number: u32) -> Option<u16> {
        match &self.shard(shard).kind {
            ShardKind::Row { first_seat, seats, .. } => {
                let offset = number.checked_sub(*first_seat)?;
                (offset < u32::from(*seats)).then_some(offset as u16)
            }
            ShardKind::GaSlice { .. } => None,
        }
    }

    /// The seat number at `offset` of a row shard.
    pub fn seat_number(&self, shard: ShardIndex, offset: u16) -> u32 {
        match &self.shard(shard).kind {
            ShardKind::Row { first_seat, .. } => first_seat + u32::from(offset),
            ShardKind::GaSlice { .. } => unreachable!("a general-admission slice has no seat numbers"),
        }
    }

    pub fn shard_price_cents(&self, shard: ShardIndex) -> u64 {
        self.tier(self.shard(shard).tier).price_cents
    }

    /// Places in the whole venue.
    pub fn capacity(&self) -> u64 {
        self.shards.iter().map(|s| u64::from(s.capacity())).sum()
    }
}

/// Seat numbers of a row as offsets from its first seat, ascending.
fn offsets(numbers: impl Iterator<Item = u32>, first_seat: u32) -> Box<[u16]> {
    let mut offsets: Vec<u16> = numbers
        .map(|number| u16::try_from(number - first_seat).expect("validated: a flag names a seat of its row"))
        .collect();
    offsets.sort_unstable();
    offsets.into()
}
