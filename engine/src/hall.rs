//! The venue drawn: where the stage, the sections and their seats are, as an
//! event spec may describe it (`hall`, a section's `shape` and `seating`),
//! and the geometry that turns a row layout into seat coordinates.
//!
//! Coordinates are whole units of the promoter's choosing (a decimetre
//! suits a hall), `x` to the right and `y` down, as in SVG. Nothing here is
//! logged but the spec itself: coordinates are computed again when asked.

use serde::{Deserialize, Deserializer, Serialize};

use crate::limits::{MAX_CURVE_RADIUS, MAX_HALL_SIZE, MAX_SHAPE_POINTS, MAX_SPACING, MIN_HALL_SIZE};

/// One coordinate: an integral JSON number, as every integer field reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Coordinate(pub u32);

impl<'de> Deserialize<'de> for Coordinate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::json_fields::integer(deserializer).map(Coordinate)
    }
}

/// A point `[x, y]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Point(pub Coordinate, pub Coordinate);

impl Point {
    pub fn xy(self) -> (f64, f64) {
        (f64::from(self.0 .0), f64::from(self.1 .0))
    }
}

/// The `hall` of a spec: the drawing's size, and the stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HallSpec {
    #[serde(deserialize_with = "crate::json_fields::integer")]
    pub width: u32,
    #[serde(deserialize_with = "crate::json_fields::integer")]
    pub height: u32,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::json_fields::present")]
    pub stage: Option<StageSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    pub shape: Vec<Point>,
    /// What the stage is called on the map; absent, the page says "Stage".
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::json_fields::present")]
    pub label: Option<String>,
}

/// A reserved section's rows laid out: the front row's centre at `front`,
/// later rows one `row_spacing` further along `angle_deg` (0 is down the
/// page, 90 to the left: the direction away from the stage), seats
/// `seat_spacing` apart, numbered left to right as the audience sees the
/// stage. With `curve_radius`, rows are arcs around a point that far in
/// front of the front row (a fan facing the stage); without, straight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatingSpec {
    pub front: Point,
    #[serde(deserialize_with = "crate::json_fields::integer")]
    pub angle_deg: u32,
    #[serde(deserialize_with = "crate::json_fields::integer")]
    pub seat_spacing: u32,
    #[serde(deserialize_with = "crate::json_fields::integer")]
    pub row_spacing: u32,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::json_fields::present_integer"
    )]
    pub curve_radius: Option<u32>,
}

impl SeatingSpec {
    /// The unit vector from the stage towards the back rows.
    fn back(&self) -> (f64, f64) {
        let a = f64::from(self.angle_deg).to_radians();
        (-a.sin(), a.cos())
    }

    /// Where seat `index` (0 the leftmost) of a row of `seats`, `row_index`
    /// rows behind the front one, stands.
    pub fn seat_at(&self, row_index: usize, index: usize, seats: usize) -> (f64, f64) {
        let along = (index as f64 - (seats as f64 - 1.0) / 2.0) * f64::from(self.seat_spacing);
        self.position(row_index as f64, along)
    }

    /// A point `rows` rows behind the front row's centre line and `along`
    /// units to the audience's right of it (along the row's curve).
    pub fn position(&self, rows: f64, along: f64) -> (f64, f64) {
        let (front_x, front_y) = self.front.xy();
        let (back_x, back_y) = self.back();
        // The audience's right: the back direction turned a quarter clockwise on the page.
        let (right_x, right_y) = (back_y, -back_x);
        let depth = rows * f64::from(self.row_spacing);
        match self.curve_radius {
            None => (front_x + depth * back_x + along * right_x, front_y + depth * back_y + along * right_y),
            Some(radius) => {
                let radius = f64::from(radius);
                let (focus_x, focus_y) = (front_x - radius * back_x, front_y - radius * back_y);
                let row_radius = radius + depth;
                let turn = along / row_radius;
                let (dx, dy) = (back_x * turn.cos() + right_x * turn.sin(), back_y * turn.cos() + right_y * turn.sin());
                (focus_x + row_radius * dx, focus_y + row_radius * dy)
            }
        }
    }
}

/// Problems with the drawing's own numbers, as `(field, message)`: the
/// spec names each one in its errors.
pub fn check_hall(hall: &HallSpec) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (field, value) in [("hall.width", hall.width), ("hall.height", hall.height)] {
        if !(MIN_HALL_SIZE..=MAX_HALL_SIZE).contains(&value) {
            problems.push((field.to_owned(), format!("must be {MIN_HALL_SIZE} to {MAX_HALL_SIZE} units")));
        }
    }
    if let Some(stage) = &hall.stage {
        problems.extend(check_shape(hall, "hall.stage.shape", &stage.shape));
    }
    problems
}

/// A polygon: 3 to `MAX_SHAPE_POINTS` points, each inside the hall.
pub fn check_shape(hall: &HallSpec, field: &str, shape: &[Point]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if !(3..=MAX_SHAPE_POINTS).contains(&shape.len()) {
        problems.push((field.to_owned(), format!("must have 3 to {MAX_SHAPE_POINTS} points")));
    }
    for (i, point) in shape.iter().enumerate() {
        if !inside(hall, point.xy()) {
            problems.push((format!("{field}[{i}]"), outside_message(hall)));
        }
    }
    problems
}

/// A section's row as the drawing needs it: its id, first seat number and seats.
pub type RowSeats<'a> = (&'a str, u32, u32);

/// A row layout's numbers, its curve, and, when `place_seats` (the rest of
/// the spec is sound, so the seats are few enough to place), every seat it
/// places inside the hall. `rows` are the section's rows, front to back.
pub fn check_seating(
    hall: &HallSpec,
    field: &str,
    seating: &SeatingSpec,
    rows: &[RowSeats],
    place_seats: bool,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut fail = |part: &str, message: String| problems.push((format!("{field}.{part}"), message));
    if seating.angle_deg > 359 {
        fail("angle_deg", "must be 0 to 359".into());
    }
    for (part, value) in [("seat_spacing", seating.seat_spacing), ("row_spacing", seating.row_spacing)] {
        if !(1..=MAX_SPACING).contains(&value) {
            fail(part, format!("must be 1 to {MAX_SPACING} units"));
        }
    }
    if seating.curve_radius.is_some_and(|radius| !(1..=MAX_CURVE_RADIUS).contains(&radius)) {
        fail("curve_radius", format!("must be 1 to {MAX_CURVE_RADIUS} units"));
    }
    if !inside(hall, seating.front.xy()) {
        fail("front", outside_message(hall));
    }
    if !problems.is_empty() {
        return problems;
    }
    if let Some(why) = seating.curve_radius.and_then(|radius| curve_problem(seating, radius, rows)) {
        return vec![(format!("{field}.curve_radius"), why)];
    }
    if !place_seats {
        return problems;
    }
    if let Some(((row, first, _), seat, (x, y))) = first_seat_outside(hall, seating, rows) {
        let number = u64::from(first) + seat as u64;
        let message = format!(
            "places row {row} seat {number} at ({x:.0}, {y:.0}), outside the hall ({} by {})",
            hall.width, hall.height
        );
        problems.push((field.to_owned(), message));
    }
    problems
}

/// A curve too tight for its rows: the front edge would pass the point the
/// rows curve around, or a row would wrap past half a circle onto itself.
fn curve_problem(seating: &SeatingSpec, radius: u32, rows: &[RowSeats]) -> Option<String> {
    if radius < seating.row_spacing {
        return Some(format!("must be at least row_spacing ({})", seating.row_spacing));
    }
    rows.iter().enumerate().find_map(|(index, &(id, _, seats))| {
        let row_radius = f64::from(radius) + index as f64 * f64::from(seating.row_spacing);
        let half_length = f64::from(seats) * f64::from(seating.seat_spacing) / 2.0;
        (half_length / row_radius > std::f64::consts::FRAC_PI_2).then(|| {
            format!("is too small: row {id}'s {seats} seats would curve past half a circle; give a larger curve_radius")
        })
    })
}

fn first_seat_outside<'r>(
    hall: &HallSpec,
    seating: &SeatingSpec,
    rows: &[RowSeats<'r>],
) -> Option<(RowSeats<'r>, usize, (f64, f64))> {
    for (index, &row) in rows.iter().enumerate() {
        let seats = row.2 as usize;
        for seat in 0..seats {
            let at = seating.seat_at(index, seat, seats);
            if !inside(hall, at) {
                return Some((row, seat, at));
            }
        }
    }
    None
}

fn inside(hall: &HallSpec, (x, y): (f64, f64)) -> bool {
    (0.0..=f64::from(hall.width)).contains(&x) && (0.0..=f64::from(hall.height)).contains(&y)
}

fn outside_message(hall: &HallSpec) -> String {
    format!("must be inside the hall: x 0 to {}, y 0 to {}", hall.width, hall.height)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seating(curve_radius: Option<u32>, angle_deg: u32) -> SeatingSpec {
        SeatingSpec {
            front: Point(Coordinate(500), Coordinate(100)),
            angle_deg,
            seat_spacing: 10,
            row_spacing: 12,
            curve_radius,
        }
    }

    fn near(a: (f64, f64), b: (f64, f64)) -> bool {
        (a.0 - b.0).abs() < 1e-6 && (a.1 - b.1).abs() < 1e-6
    }

    #[test]
    fn straight_rows_run_left_to_right_as_the_audience_faces_the_stage_above() {
        let layout = seating(None, 0);
        // Three seats: the middle one at the front point, seat 1 on the page's left.
        assert!(near(layout.seat_at(0, 1, 3), (500.0, 100.0)));
        assert!(near(layout.seat_at(0, 0, 3), (490.0, 100.0)));
        // The second row is one row spacing further from the stage (down the page).
        assert!(near(layout.seat_at(1, 1, 3), (500.0, 112.0)));
    }

    #[test]
    fn a_section_turned_a_quarter_has_its_rows_going_left() {
        let layout = seating(None, 90);
        assert!(near(layout.seat_at(1, 0, 1), (488.0, 100.0)));
        // Facing the stage (to the page's right), the audience's left is up the page.
        assert!(near(layout.seat_at(0, 0, 3), (500.0, 90.0)));
    }

    #[test]
    fn curved_rows_keep_every_seat_on_its_arc_and_the_spacing_along_it() {
        let layout = seating(Some(200), 0);
        let focus = (500.0, -100.0);
        for row in 0..3 {
            let radius = 200.0 + 12.0 * row as f64;
            let seats: Vec<_> = (0..9).map(|i| layout.seat_at(row, i, 9)).collect();
            for &(x, y) in &seats {
                assert!(((x - focus.0).hypot(y - focus.1) - radius).abs() < 1e-6);
            }
            let arc = |a: (f64, f64), b: (f64, f64)| {
                let angle = |p: (f64, f64)| (p.0 - focus.0).atan2(p.1 - focus.1);
                (angle(a) - angle(b)).abs() * radius
            };
            assert!((arc(seats[0], seats[1]) - 10.0).abs() < 1e-6);
            assert!(seats[0].0 < seats[8].0, "seat 1 is on the audience's left");
        }
    }

    #[test]
    fn a_row_that_leaves_the_hall_is_named_with_the_seat() {
        let hall = HallSpec { width: 600, height: 400, stage: None };
        let rows = [("A", 1, 5), ("B", 101, 30), ("C", 1, 5)];
        let problems = check_seating(&hall, "sections[0].seating", &seating(None, 0), &rows, true);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "sections[0].seating");
        assert!(
            problems[0].1.starts_with("places row B seat 126 at (605, 112), outside the hall"),
            "{}",
            problems[0].1
        );
        assert!(check_seating(&hall, "s", &seating(None, 0), &[("A", 1, 5), ("B", 1, 10)], true).is_empty());
        assert!(check_seating(&hall, "s", &seating(None, 0), &rows, false).is_empty(), "seats placed only when asked");
    }

    #[test]
    fn a_curve_too_tight_for_its_rows_is_refused() {
        let hall = HallSpec { width: 10_000, height: 10_000, stage: None };
        let mut layout = seating(Some(10), 0);
        layout.front = Point(Coordinate(5_000), Coordinate(5_000));
        let problems = check_seating(&hall, "s", &layout, &[("A", 1, 2)], true);
        assert_eq!(problems, vec![("s.curve_radius".to_owned(), "must be at least row_spacing (12)".to_owned())]);
        // 40 seats 10 apart on a radius of 100: 400 units of arc, more than half of 628.
        layout.curve_radius = Some(100);
        let problems = check_seating(&hall, "s", &layout, &[("A", 1, 4), ("B", 1, 40)], true);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].1.starts_with("is too small: row B's 40 seats"), "{}", problems[0].1);
        assert!(check_seating(&hall, "s", &layout, &[("A", 1, 4), ("B", 1, 30)], true).is_empty());
    }

    #[test]
    fn shapes_need_three_points_inside_the_hall() {
        let hall = HallSpec { width: 600, height: 400, stage: None };
        let p = |x, y| Point(Coordinate(x), Coordinate(y));
        assert_eq!(check_shape(&hall, "shape", &[p(0, 0), p(10, 0)]).len(), 1);
        let outside = check_shape(&hall, "shape", &[p(0, 0), p(10, 0), p(700, 5)]);
        assert_eq!(outside[0].0, "shape[2]");
        assert!(check_shape(&hall, "shape", &[p(0, 0), p(600, 0), p(600, 400)]).is_empty());
    }
}
