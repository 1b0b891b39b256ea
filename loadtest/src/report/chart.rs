//! Line charts as inline SVG, and HTML escaping for the text in them.

use std::fmt::Write as _;

const COLOURS: [&str; 8] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

/// One chart's line.
pub struct Series {
    name: String,
    pub points: Vec<(f64, f64)>,
}

/// A line named `name` through `points` (seconds, value).
pub fn series(name: &str, points: impl Iterator<Item = (f64, f64)>) -> Series {
    Series { name: name.into(), points: points.collect() }
}

/// A line chart as inline SVG: x in seconds of the run.
/// `markers`: vertical dashed lines (the on-sale, the kill), each with its colour.
pub fn chart(title: &str, y_label: &str, markers: &[(f64, &str)], lines: &[Series]) -> String {
    const WIDTH: f64 = 900.0;
    const HEIGHT: f64 = 260.0;
    const LEFT: f64 = 60.0;
    const RIGHT: f64 = 10.0;
    const TOP: f64 = 10.0;
    const BOTTOM: f64 = 30.0;
    let points = lines.iter().flat_map(|s| s.points.iter());
    let x_max = points.clone().map(|p| p.0).chain(markers.iter().map(|m| m.0)).fold(1.0, f64::max);
    let y_max = nice_ceiling(points.map(|p| p.1).filter(|y| y.is_finite()).fold(0.0, f64::max));
    let x_of = |x: f64| LEFT + (x / x_max) * (WIDTH - LEFT - RIGHT);
    let y_of = |y: f64| TOP + (1.0 - y / y_max) * (HEIGHT - TOP - BOTTOM);
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">",
        escape(title),
        escape(title)
    );
    for step in 0..=4 {
        let y = y_max * f64::from(step) / 4.0;
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{right}\" y1=\"{at:.1}\" y2=\"{at:.1}\" stroke=\"#eee\"/>\
             <text x=\"{label_x}\" y=\"{label_y:.1}\" font-size=\"11\" text-anchor=\"end\">{label}</text>",
            right = WIDTH - RIGHT,
            at = y_of(y),
            label_x = LEFT - 4.0,
            label_y = y_of(y) + 4.0,
            label = short(y)
        );
    }
    for step in 0..=6 {
        let x = x_max * f64::from(step) / 6.0;
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{:.0} s</text>",
            x_of(x),
            HEIGHT - 10.0,
            x
        );
    }
    for &(x, colour) in markers {
        let _ = write!(
            svg,
            "<line x1=\"{at:.1}\" x2=\"{at:.1}\" y1=\"{TOP}\" y2=\"{bottom}\" stroke=\"{colour}\" stroke-dasharray=\"4 3\"/>",
            at = x_of(x),
            bottom = HEIGHT - BOTTOM,
        );
    }
    let _ = write!(
        svg,
        "<text x=\"12\" y=\"{middle}\" font-size=\"11\" transform=\"rotate(-90 12 {middle})\" text-anchor=\"middle\">{}</text>",
        escape(y_label),
        middle = HEIGHT / 2.0,
    );
    let mut legend = String::from("<div class=\"legend\">");
    for (index, line) in lines.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let path: Vec<String> = line
            .points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", x_of(x), y_of(y)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>",
            path.join(" ")
        );
        let _ = write!(legend, "<span style=\"color:{colour}\">&#9632; {}</span>", escape(&line.name));
    }
    svg.push_str("</svg>");
    legend.push_str("</div>");
    format!("{svg}{legend}</figure>")
}

fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|&v| v >= value).unwrap_or(10.0 * magnitude)
}

fn short(value: f64) -> String {
    if value >= 1_000_000.0 {
        format!("{:.1}M", value / 1_000_000.0)
    } else if value >= 1_000.0 {
        format!("{:.1}k", value / 1_000.0)
    } else if value >= 10.0 || value == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// Text made safe inside HTML elements and attribute values.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_scale_to_their_data_and_escape_text() {
        assert_eq!(nice_ceiling(7.3), 10.0);
        assert_eq!(nice_ceiling(230.0), 250.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
        let svg = chart("a <b>", "ms", &[(5.0, "#999")], &[series("x&y", [(0.0, 1.0), (10.0, 2.0)].into_iter())]);
        assert!(svg.contains("a &lt;b&gt;") && svg.contains("x&amp;y"));
        assert!(svg.contains("<polyline"));
        assert!(!svg.contains("NaN"));
    }
}
