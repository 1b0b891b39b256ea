//! The seat map's drawing of an event (`GET /v1/events/{id}/hall`): every
//! seat at its coordinates, every section's outline, the stage. Computed
//! from the spec's hall when it has one; otherwise laid out plainly, the
//! sections side by side in rows under the stage, so every event has a map.

use serde::Serialize;

use crate::hall::{Coordinate, HallSpec, Point, SeatingSpec};
use crate::spec::{EventSpec, RowSpec, SectionSpec};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HallDrawing {
    pub width: u32,
    pub height: u32,
    /// Whether the promoter drew the hall (false: laid out plainly).
    pub drawn: bool,
    pub stage: Option<StageDrawing>,
    pub sections: Vec<SectionDrawing>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StageDrawing {
    pub label: Option<String>,
    pub shape: Vec<[f64; 2]>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SectionDrawing {
    pub section: String,
    pub name: String,
    pub tier: String,
    pub shape: Vec<[f64; 2]>,
    pub label_at: [f64; 2],
    /// General admission: its places; reserved: absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    pub rows: Vec<RowDrawing>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RowDrawing {
    pub row: String,
    pub tier: String,
    /// Where the row's name goes: one seat before its first seat.
    pub label_at: [f64; 2],
    /// `[number, x, y]` for each seat, numbers ascending.
    pub seats: Vec<[f64; 3]>,
    pub accessible: Vec<u32>,
    pub companion: Vec<u32>,
}

/// Units of the plain layout: seats, rows, and the space around sections.
const PLAIN_SEAT_SPACING: u32 = 10;
const PLAIN_ROW_SPACING: u32 = 12;
const PLAIN_MARGIN: u32 = 20;
const PLAIN_HEADER: u32 = 24;
const PLAIN_STAGE_DEPTH: u32 = 50;
const PLAIN_GA_SIZE: (u32, u32) = (200, 100);
const PLAIN_MIN_WIDTH: u32 = 600;

impl HallDrawing {
    pub fn of(spec: &EventSpec) -> HallDrawing {
        match &spec.hall {
            Some(hall) => drawn(spec, hall),
            None => plain(spec),
        }
    }
}

fn drawn(spec: &EventSpec, hall: &HallSpec) -> HallDrawing {
    let sections = spec
        .sections
        .iter()
        .map(|section| match (&section.rows, &section.seating) {
            (Some(rows), Some(seating)) => reserved(section, rows, seating),
            _ => general_admission(section, section.shape.as_deref().unwrap_or_default()),
        })
        .collect();
    let stage =
        hall.stage.as_ref().map(|stage| StageDrawing { label: stage.label.clone(), shape: polygon(&stage.shape) });
    HallDrawing { width: hall.width, height: hall.height, drawn: true, stage, sections }
}

fn reserved(section: &SectionSpec, rows: &[RowSpec], seating: &SeatingSpec) -> SectionDrawing {
    let spacing = f64::from(seating.seat_spacing);
    let drawn_rows: Vec<RowDrawing> = rows
        .iter()
        .enumerate()
        .map(|(index, row)| {
            let first = row.first.unwrap_or(1);
            let count = row.seats as usize;
            let seats = (0..count)
                .map(|i| {
                    let (x, y) = seating.seat_at(index, i, count);
                    [f64::from(first) + i as f64, round(x), round(y)]
                })
                .collect();
            let before_first = -((count as f64 + 1.0) / 2.0) * spacing;
            RowDrawing {
                row: row.id.clone(),
                tier: row.tier.clone().unwrap_or_else(|| section.tier.clone()),
                label_at: point(seating.position(index as f64, before_first)),
                seats,
                accessible: row.accessible.clone().unwrap_or_default(),
                companion: row.companion.clone().unwrap_or_default(),
            }
        })
        .collect();
    let shape = match &section.shape {
        Some(shape) => polygon(shape),
        None => outline(seating, rows),
    };
    let middle_row = (rows.len().max(1) - 1) as f64 / 2.0;
    SectionDrawing {
        section: section.id.clone(),
        name: section.name.clone(),
        tier: section.tier.clone(),
        shape,
        label_at: point(seating.position(middle_row, 0.0)),
        capacity: None,
        rows: drawn_rows,
    }
}

/// Around a section's seats: down its left ends front to back, along the
/// back row, and up its right ends, half a spacing out from every seat.
fn outline(seating: &SeatingSpec, rows: &[RowSpec]) -> Vec<[f64; 2]> {
    let spacing = f64::from(seating.seat_spacing);
    let half_width = |row: &RowSpec| (f64::from(row.seats) / 2.0) * spacing;
    let last = rows.len().saturating_sub(1);
    let mut left = Vec::with_capacity(rows.len() + 2);
    let mut right = Vec::with_capacity(rows.len() + 2);
    for (index, row) in rows.iter().enumerate() {
        let depths: &[f64] = match (index == 0, index == last) {
            (true, true) => &[-0.5, 0.5],
            (true, false) => &[-0.5, 0.0],
            (false, true) => &[0.0, 0.5],
            (false, false) => &[0.0],
        };
        for &depth in depths {
            left.push(point(seating.position(index as f64 + depth, -half_width(row))));
            right.push(point(seating.position(index as f64 + depth, half_width(row))));
        }
    }
    // The front and back edges follow the rows' curve.
    let arc = |index: usize, depth: f64, from: f64, to: f64| -> Vec<[f64; 2]> {
        (1..8).map(|k| point(seating.position(index as f64 + depth, from + (to - from) * f64::from(k) / 8.0))).collect()
    };
    let mut shape = left;
    if let Some(back) = rows.get(last) {
        shape.extend(arc(last, 0.5, -half_width(back), half_width(back)));
    }
    shape.extend(right.into_iter().rev());
    if let Some(front) = rows.first() {
        shape.extend(arc(0, -0.5, half_width(front), -half_width(front)));
    }
    shape
}

fn general_admission(section: &SectionSpec, shape: &[Point]) -> SectionDrawing {
    let shape = polygon(shape);
    let count = shape.len().max(1) as f64;
    let centre = shape.iter().fold([0.0, 0.0], |sum, p| [sum[0] + p[0] / count, sum[1] + p[1] / count]);
    SectionDrawing {
        section: section.id.clone(),
        name: section.name.clone(),
        tier: section.tier.clone(),
        shape,
        label_at: [round(centre[0]), round(centre[1])],
        capacity: section.capacity,
        rows: Vec::new(),
    }
}

/// No hall in the spec: the stage across the top, then the sections in
/// reading order, each in its own box, as many per line as fit.
fn plain(spec: &EventSpec) -> HallDrawing {
    let boxes: Vec<(u32, u32)> = spec.sections.iter().map(plain_box).collect();
    let line_width = boxes.iter().map(|b| b.0).max().unwrap_or(0).max(PLAIN_MIN_WIDTH);
    let top = PLAIN_MARGIN * 2 + PLAIN_STAGE_DEPTH;
    let (mut x, mut y, mut line_height, mut width) = (PLAIN_MARGIN, top, 0, 0);
    let mut sections = Vec::with_capacity(spec.sections.len());
    for (section, (box_width, box_height)) in spec.sections.iter().zip(boxes) {
        if x > PLAIN_MARGIN && x + box_width > PLAIN_MARGIN + line_width {
            (x, y, line_height) = (PLAIN_MARGIN, y + line_height + PLAIN_MARGIN, 0);
        }
        sections.push(plain_section(section, x, y, box_width, box_height));
        width = width.max(x + box_width);
        line_height = line_height.max(box_height);
        x += box_width + PLAIN_MARGIN;
    }
    let width = width + PLAIN_MARGIN;
    let (w, stage_top, stage_bottom) =
        (f64::from(width), f64::from(PLAIN_MARGIN), f64::from(PLAIN_MARGIN + PLAIN_STAGE_DEPTH));
    let stage = StageDrawing {
        label: None,
        shape: vec![[w * 0.25, stage_top], [w * 0.75, stage_top], [w * 0.75, stage_bottom], [w * 0.25, stage_bottom]],
    };
    HallDrawing { width, height: y + line_height + PLAIN_MARGIN, drawn: false, stage: Some(stage), sections }
}

fn plain_box(section: &SectionSpec) -> (u32, u32) {
    match &section.rows {
        Some(rows) => {
            let widest = rows.iter().map(|row| row.seats).max().unwrap_or(0);
            ((widest + 3) * PLAIN_SEAT_SPACING, rows.len() as u32 * PLAIN_ROW_SPACING + PLAIN_HEADER)
        }
        None => PLAIN_GA_SIZE,
    }
}

fn plain_section(section: &SectionSpec, x: u32, y: u32, width: u32, height: u32) -> SectionDrawing {
    let at = |x: u32, y: u32| Point(Coordinate(x), Coordinate(y));
    match &section.rows {
        Some(rows) => {
            let seating = SeatingSpec {
                // One seat's room to the right for the row names on the left.
                front: at(x + width / 2 + PLAIN_SEAT_SPACING / 2, y + PLAIN_HEADER),
                angle_deg: 0,
                seat_spacing: PLAIN_SEAT_SPACING,
                row_spacing: PLAIN_ROW_SPACING,
                curve_radius: None,
            };
            let mut drawing = reserved(section, rows, &seating);
            drawing.label_at = [f64::from(x + width / 2), f64::from(y + PLAIN_HEADER / 3)];
            drawing
        }
        None => {
            let shape = [at(x, y), at(x + width, y), at(x + width, y + height), at(x, y + height)];
            general_admission(section, &shape)
        }
    }
}

fn polygon(points: &[Point]) -> Vec<[f64; 2]> {
    points.iter().map(|p| point(p.xy())).collect()
}

fn point((x, y): (f64, f64)) -> [f64; 2] {
    [round(x), round(y)]
}

/// A tenth of a unit is finer than any screen shows, and keeps the JSON short.
fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::demo_event;

    #[test]
    fn the_demo_hall_places_every_seat_of_the_spec_inside_the_hall_once() {
        let spec = demo_event().spec;
        let drawing = HallDrawing::of(&spec);
        assert!(drawing.drawn);
        let mut seen = std::collections::HashSet::new();
        for (section, drawn) in spec.sections.iter().zip(&drawing.sections) {
            assert_eq!(section.id, drawn.section);
            for (row, drawn_row) in section.rows.iter().flatten().zip(&drawn.rows) {
                assert_eq!(drawn_row.seats.len(), row.seats as usize);
                for seat in &drawn_row.seats {
                    assert!(seat[1] >= 0.0 && seat[1] <= f64::from(drawing.width), "{seat:?}");
                    assert!(seat[2] >= 0.0 && seat[2] <= f64::from(drawing.height), "{seat:?}");
                    // No two seats of the hall on the same spot.
                    assert!(seen.insert(((seat[1] * 10.0) as i64, (seat[2] * 10.0) as i64)), "{seat:?}");
                }
            }
        }
    }

    #[test]
    fn an_undrawn_event_is_laid_out_plainly_with_every_section_below_the_stage() {
        let mut spec = demo_event().spec;
        spec.hall = None;
        for section in &mut spec.sections {
            section.shape = None;
            section.seating = None;
        }
        assert!(spec.validate().is_ok());
        let drawing = HallDrawing::of(&spec);
        assert!(!drawing.drawn);
        let stage_bottom = drawing.stage.as_ref().map(|s| s.shape[2][1]).unwrap_or_default();
        for section in &drawing.sections {
            for point in &section.shape {
                assert!(
                    point[1] > stage_bottom && point[1] <= f64::from(drawing.height),
                    "{}: {point:?}",
                    section.section
                );
                assert!(point[0] >= 0.0 && point[0] <= f64::from(drawing.width), "{}: {point:?}", section.section);
            }
            for seat in section.rows.iter().flat_map(|row| &row.seats) {
                assert!(seat[2] > stage_bottom && seat[2] < f64::from(drawing.height), "{}: {seat:?}", section.section);
            }
        }
    }
}
