//! Server-rendered SVG charts (no JavaScript, no external library): bars, a line, and a
//! weekday × hour heatmap. Every label is XML-escaped here; templates embed the result as is.

use std::fmt::Write;

const W: f64 = 640.0;
const H: f64 = 240.0;
const PAD_L: f64 = 48.0;
const PAD_B: f64 = 36.0;
const PAD_T: f64 = 12.0;

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn open(title: &str, height: f64) -> String {
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {height}\" role=\"img\" aria-label=\"{t}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title>",
        t = escape(title)
    )
}

fn axis(out: &mut String, max: f64) {
    let base = H - PAD_B;
    let _ =
        write!(out, "<line class=\"axis\" x1=\"{PAD_L}\" y1=\"{base}\" x2=\"{W}\" y2=\"{base}\"/>");
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let y = base - (base - PAD_T) * f64::from(i) / 4.0;
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{PAD_L}\" y1=\"{y:.1}\" x2=\"{W}\" y2=\"{y:.1}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            PAD_L - 6.0,
            y + 4.0,
            short(v)
        );
    }
}

/// 1200 → 1.2k, for axis ticks.
pub fn short(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.1}M", v / 1_000_000.0)
    } else if v >= 1_000.0 {
        format!("{:.1}k", v / 1_000.0)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Vertical bars, one per (label, value).
pub fn bars(title: &str, data: &[(String, f64)]) -> String {
    let mut out = open(title, H);
    let max = data.iter().map(|d| d.1).fold(0.0, f64::max).max(1.0);
    axis(&mut out, max);
    let n = data.len().max(1) as f64;
    let slot = (W - PAD_L) / n;
    let base = H - PAD_B;
    for (i, (label, value)) in data.iter().enumerate() {
        let h = (base - PAD_T) * value / max;
        let x = PAD_L + slot * i as f64 + slot * 0.15;
        let _ = write!(
            out,
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\">\
             <title>{}: {}</title></rect>\
             <text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            base - h,
            slot * 0.7,
            escape(label),
            short(*value),
            x + slot * 0.35,
            base + 16.0,
            escape(label)
        );
    }
    out.push_str("</svg>");
    out
}

/// A line through the points (x labels shown at the ends and middle).
pub fn line(title: &str, data: &[(String, f64)]) -> String {
    let mut out = open(title, H);
    let max = data.iter().map(|d| d.1).fold(0.0, f64::max).max(1.0);
    axis(&mut out, max);
    let base = H - PAD_B;
    let step = if data.len() > 1 { (W - PAD_L - 8.0) / (data.len() - 1) as f64 } else { 0.0 };
    let point = |i: usize, v: f64| (PAD_L + 4.0 + step * i as f64, base - (base - PAD_T) * v / max);
    let path: Vec<String> = data
        .iter()
        .enumerate()
        .map(|(i, (_, v))| {
            let (x, y) = point(i, *v);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    if !path.is_empty() {
        let _ =
            write!(out, "<polyline class=\"line\" fill=\"none\" points=\"{}\"/>", path.join(" "));
    }
    for (i, (label, v)) in data.iter().enumerate() {
        let (x, y) = point(i, *v);
        let _ = write!(
            out,
            "<circle class=\"dot\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\"><title>{}: {}</title></circle>",
            escape(label),
            short(*v)
        );
        if i == 0 || i + 1 == data.len() || i == data.len() / 2 {
            let _ = write!(
                out,
                "<text class=\"label\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                base + 16.0,
                escape(label)
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// A 7 × 24 grid (Monday first, local hours); darker is better. `cells[weekday][hour]`.
pub fn heatmap(title: &str, cells: &[[f64; 24]; 7]) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let height = 7.0 * 22.0 + 30.0;
    let mut out = open(title, height);
    let max = cells.iter().flatten().copied().fold(0.0, f64::max);
    let cell_w = (W - PAD_L) / 24.0;
    for (d, row) in cells.iter().enumerate() {
        let y = d as f64 * 22.0 + 4.0;
        let _ = write!(
            out,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            PAD_L - 6.0,
            y + 15.0,
            DAYS[d]
        );
        for (h, v) in row.iter().enumerate() {
            let level = if max > 0.0 { (v / max * 4.0).ceil() as u8 } else { 0 };
            let _ = write!(
                out,
                "<rect class=\"heat heat-{level}\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"20\">\
                 <title>{} {h:02}:00 — {}</title></rect>",
                PAD_L + cell_w * h as f64,
                cell_w - 2.0,
                DAYS[d],
                short(*v)
            );
        }
    }
    for h in (0..24).step_by(3) {
        let _ = write!(
            out,
            "<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{h:02}</text>",
            PAD_L + cell_w * h as f64 + cell_w / 2.0,
            height - 6.0
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_labels_and_scale_to_the_maximum() {
        let svg =
            bars("Engagement <by> platform", &[("x & co".into(), 10.0), ("bluesky".into(), 5.0)]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("x &amp; co") && !svg.contains("x & co"));
        assert!(svg.contains("Engagement &lt;by&gt; platform"));
        // The tallest bar spans the plot height.
        assert!(svg.contains(&format!("height=\"{:.1}\"", H - PAD_B - PAD_T)));
        let l = line("Followers", &[("1 Mar".into(), 100.0), ("2 Mar".into(), 1500.0)]);
        assert!(l.contains("<polyline") && l.contains("1.5k"));
        let mut cells = [[0.0; 24]; 7];
        cells[1][9] = 2.0;
        let hm = heatmap("Best times", &cells);
        assert!(hm.contains("heat-4") && hm.contains("Tue 09:00"));
    }
}
