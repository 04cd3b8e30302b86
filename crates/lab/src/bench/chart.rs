//! `jlock bench --svg`: the results as a chart, drawn with plotters — ops/s
//! against process count for every approach on the smallest document, and
//! time per update against document size for every store mode.

use std::path::Path;

use plotters::prelude::*;

use super::Row;

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws `rows` to an SVG file.
pub fn draw(path: &Path, rows: &[Row]) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (1100, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(560);
    let mut approaches: Vec<&str> = Vec::new();
    for r in rows {
        if !approaches.contains(&r.approach.as_str()) {
            approaches.push(&r.approach);
        }
    }

    // Left: ops/s (log) against processes, smallest document of each approach.
    let max_procs = rows.iter().map(|r| r.procs).max().unwrap_or(1) as f64;
    let max_ops = rows.iter().map(Row::ops_per_sec).fold(10.0, f64::max);
    let mut chart = ChartBuilder::on(&left)
        .caption(
            "ops/s by process count (smallest document)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (0.8f64..max_procs * 1.25).log_scale(),
            (10f64..max_ops * 3.0).log_scale(),
        )?;
    chart
        .configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .x_desc("processes")
        .y_desc("ops/s")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    for (i, name) in approaches.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let min_doc = rows
            .iter()
            .filter(|r| r.approach == *name)
            .map(|r| r.doc_bytes)
            .min()
            .unwrap_or(0);
        let points: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.approach == *name && r.doc_bytes == min_doc)
            .map(|r| (r.procs as f64, r.ops_per_sec().max(10.0)))
            .collect();
        line(&mut chart, name, colour, &points)?;
    }
    legend(&mut chart, SeriesLabelPosition::LowerLeft)?;

    // Right: µs per update against document size, 1 process, store modes.
    let stores: Vec<&Row> = rows
        .iter()
        .filter(|r| r.approach.starts_with("store:") && r.procs == 1)
        .collect();
    if !stores.is_empty() {
        let max_doc = stores.iter().map(|r| r.doc_bytes).max().unwrap_or(1) as f64;
        let min_doc = stores.iter().map(|r| r.doc_bytes).min().unwrap_or(1).max(1) as f64;
        let max_us = stores
            .iter()
            .map(|r| 1e6 / r.ops_per_sec().max(1e-9))
            .fold(10.0, f64::max);
        let mut chart = ChartBuilder::on(&right)
            .caption(
                "µs per update by document size (1 process)",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(
                (min_doc * 0.7..max_doc * 1.5).log_scale(),
                (1f64..max_us * 3.0).log_scale(),
            )?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(238, 238, 238))
            .x_desc("document bytes")
            .y_desc("µs per update")
            .x_label_formatter(&|x| human_bytes(*x))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()?;
        for (i, name) in approaches.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let points: Vec<(f64, f64)> = stores
                .iter()
                .filter(|r| r.approach == *name)
                .map(|r| (r.doc_bytes.max(1) as f64, 1e6 / r.ops_per_sec().max(1e-9)))
                .collect();
            if !points.is_empty() {
                line(&mut chart, name, colour, &points)?;
            }
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    }
    root.present()?;
    Ok(())
}

/// Both charts: log-scaled on both axes.
type LogChart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<LogCoord<f64>, LogCoord<f64>>>;

/// One approach's line, with dots at the measurements and a legend entry.
fn line(
    chart: &mut LogChart<'_, '_>,
    name: &str,
    colour: RGBColor,
    points: &[(f64, f64)],
) -> Result<(), Box<dyn std::error::Error>> {
    chart
        .draw_series(LineSeries::new(points.to_vec(), colour.stroke_width(2)))?
        .label(name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
    chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
    Ok(())
}

fn legend<'a, 'b: 'a>(
    chart: &mut LogChart<'a, 'b>,
    position: SeriesLabelPosition,
) -> Result<(), Box<dyn std::error::Error>> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(position)
        .draw()?;
    Ok(())
}

fn human_bytes(x: f64) -> String {
    if x >= 1024.0 * 1024.0 {
        format!("{:.0}M", x / 1024.0 / 1024.0)
    } else if x >= 1024.0 {
        format!("{:.0}k", x / 1024.0)
    } else {
        format!("{x:.0}")
    }
}
