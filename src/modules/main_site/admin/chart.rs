//! Leads per day by source as a stacked bar chart, drawn on the server as SVG: no script, no
//! CDN, readable by screen readers through its title, description and a table of the numbers.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};

/// Okabe–Ito colours (distinguishable with colour-blindness); the last is for "other".
const COLOURS: [&str; 6] = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"];
const OTHER: &str = "#8a8f98";
const MAX_SERIES: usize = 5;

pub const WIDTH: f64 = 760.0;
pub const HEIGHT: f64 = 260.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

pub struct Bar {
    pub x: String,
    pub y: String,
    pub w: String,
    pub h: String,
    pub colour: &'static str,
    pub title: String,
}

pub struct Tick {
    pub y: String,
    pub label: String,
}

pub struct XLabel {
    pub x: String,
    pub label: String,
}

pub struct Series {
    pub name: String,
    pub colour: &'static str,
    pub total: i64,
}

pub struct Chart {
    pub days: u32,
    pub total: i64,
    pub series: Vec<Series>,
    pub bars: Vec<Bar>,
    pub ticks: Vec<Tick>,
    pub labels: Vec<XLabel>,
    /// One row per day: the day and its count per series (same order as `series`).
    pub table: Vec<(String, Vec<i64>)>,
    pub plot_left: String,
    pub plot_right: String,
    pub baseline: String,
}

fn px(v: f64) -> String {
    format!("{v:.1}")
}

/// The smallest "nice" axis maximum (1, 2 or 5 × 10ⁿ steps, at most 5 of them) above `max`.
pub fn nice_axis(max: i64) -> (i64, i64) {
    let max = max.max(1);
    let mut magnitude = 1;
    loop {
        for step in [magnitude, 2 * magnitude, 5 * magnitude] {
            let top = (max + step - 1) / step * step;
            if top / step <= 5 {
                return (top, step);
            }
        }
        magnitude *= 10;
    }
}

/// `rows` are (day, source, count) for the `days` days ending `today` (UTC).
pub fn build(rows: &[(NaiveDate, String, i64)], days: u32, today: NaiveDate) -> Chart {
    let first = today - Duration::days(i64::from(days) - 1);
    let mut totals: BTreeMap<&str, i64> = BTreeMap::new();
    for (_, source, n) in rows {
        *totals.entry(source.as_str()).or_default() += n;
    }
    let mut ranked: Vec<(&str, i64)> = totals.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let shown: Vec<&str> = ranked.iter().take(MAX_SERIES).map(|(s, _)| *s).collect();
    let has_other = ranked.len() > MAX_SERIES;
    let mut series: Vec<Series> = shown
        .iter()
        .zip(COLOURS)
        .map(|(s, colour)| Series { name: s.to_string(), colour, total: 0 })
        .collect();
    if has_other {
        series.push(Series { name: "other".into(), colour: OTHER, total: 0 });
    }
    let index = |source: &str| shown.iter().position(|s| *s == source).unwrap_or(MAX_SERIES);

    // counts[day][series]
    let mut counts = vec![vec![0i64; series.len()]; days as usize];
    for (day, source, n) in rows {
        let d = (*day - first).num_days();
        if (0..i64::from(days)).contains(&d) {
            let i = index(source).min(series.len().saturating_sub(1));
            counts[d as usize][i] += n;
        }
    }
    for day in &counts {
        for (i, n) in day.iter().enumerate() {
            series[i].total += n;
        }
    }
    let busiest = counts.iter().map(|d| d.iter().sum::<i64>()).max().unwrap_or(0);
    let (top, step) = nice_axis(busiest);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / f64::from(days);
    let bar_w = (slot * 0.72).max(1.0);
    let scale = plot_h / top as f64;

    let mut bars = Vec::new();
    let mut table = Vec::new();
    for (d, day_counts) in counts.iter().enumerate() {
        let date = first + Duration::days(d as i64);
        let x = LEFT + slot * d as f64 + (slot - bar_w) / 2.0;
        let mut y = TOP + plot_h;
        for (i, n) in day_counts.iter().enumerate().filter(|(_, n)| **n > 0) {
            let h = *n as f64 * scale;
            y -= h;
            bars.push(Bar {
                x: px(x),
                y: px(y),
                w: px(bar_w),
                h: px(h),
                colour: series[i].colour,
                title: format!("{}: {n} from {}", date.format("%b %-d"), series[i].name),
            });
        }
        table.push((date.format("%Y-%m-%d").to_string(), day_counts.clone()));
    }
    let ticks = (0..=top / step)
        .map(|k| Tick {
            y: px(TOP + plot_h - (k * step) as f64 * scale),
            label: (k * step).to_string(),
        })
        .collect();
    let every = (days as usize).div_ceil(6).max(1);
    let labels = (0..days as usize)
        .filter(|d| d % every == 0 || *d + 1 == days as usize)
        .map(|d| XLabel {
            x: px(LEFT + slot * d as f64 + slot / 2.0),
            label: (first + Duration::days(d as i64)).format("%b %-d").to_string(),
        })
        .collect();
    Chart {
        days,
        total: series.iter().map(|s| s.total).sum(),
        series,
        bars,
        ticks,
        labels,
        table,
        plot_left: px(LEFT),
        plot_right: px(WIDTH - RIGHT),
        baseline: px(TOP + plot_h),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_are_round() {
        assert_eq!(nice_axis(0), (1, 1));
        assert_eq!(nice_axis(3), (3, 1));
        assert_eq!(nice_axis(7), (8, 2));
        assert_eq!(nice_axis(23), (25, 5));
        assert_eq!(nice_axis(101), (150, 50));
    }

    #[test]
    fn days_are_stacked_by_source_and_small_sources_merge() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let yesterday = today.pred_opt().unwrap();
        let mut rows = vec![
            (today, "homepage".to_string(), 3),
            (today, "demo".to_string(), 1),
            (yesterday, "homepage".to_string(), 2),
        ];
        for (i, s) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            rows.push((today, s.to_string(), 1 + i as i64 % 2));
        }
        let chart = build(&rows, 7, today);
        assert_eq!(chart.total, 3 + 1 + 2 + 1 + 2 + 1 + 2 + 1);
        assert_eq!(chart.series[0].name, "homepage");
        assert_eq!(chart.series.last().unwrap().name, "other");
        assert_eq!(chart.series.len(), 6);
        assert_eq!(chart.table.len(), 7);
        assert_eq!(chart.table[6].1.iter().sum::<i64>(), 11);
        assert_eq!(chart.table[5].1[0], 2);
        // One rectangle per (day, source) with leads; none for empty days.
        assert_eq!(chart.bars.len(), 1 + 6);
        assert!(chart.bars.iter().all(|b| b.title.contains("from")));
    }
}
