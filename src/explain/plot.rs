//! SVG plots of the simulations (plotters' SVG backend, no fonts needed).

use super::sim::{scale_flip_case, scale_grow_case, seed_simulation, weight_norm_simulation};
use super::ExplainError;
use crate::ir::Rat;
use num_traits::ToPrimitive;
use plotters::prelude::*;
use std::path::PathBuf;

/// Steps plotted.
const STEPS: usize = 12;

/// Names of the series in the `seed` plot.
pub const SEED_SERIES: &[&str] = &[
    "b, naive update",
    "b, true gradient",
    "loss, naive update",
    "loss, true gradient",
];

/// Names of the series in the `scale` plot.
pub const SCALE_SERIES: &[&str] = &[
    "a, naive (C negative: drifts)",
    "a, naive (C positive: flips)",
    "loss, naive (C positive)",
    "‖W‖², true gradient",
];

const COLORS: [RGBColor; 4] = [
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
];

fn f(r: &Rat) -> f64 {
    r.to_f64().unwrap_or(f64::NAN)
}

fn err(e: impl std::fmt::Display) -> ExplainError {
    ExplainError::Plot {
        path: PathBuf::from("<svg>"),
        message: e.to_string(),
    }
}

type Series = (String, Vec<(f64, f64)>);

fn range(series: &[&Series]) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for (_, pts) in series {
        for &(_, y) in pts {
            lo = lo.min(y);
            hi = hi.max(y);
        }
    }
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(0.5);
    (lo - pad, hi + pad)
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    y_label: &str,
    series: &[&Series],
    colors: &[RGBColor],
    widths: &[u32],
) -> Result<(), ExplainError>
where
    DB::ErrorType: 'static,
{
    let (lo, hi) = range(series);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(0f64..STEPS as f64, lo..hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc(y_label)
        .draw()
        .map_err(err)?;
    for (((name, pts), color), &w) in series.iter().zip(colors).zip(widths) {
        let c = *color;
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(w)))
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(w)));
        chart
            .draw_series(PointSeries::of_element(
                pts.iter().copied(),
                w + 1,
                c.filled(),
                &|p, s, st| Circle::new(p, s, st),
            ))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    Ok(())
}

fn seed_series() -> Vec<Series> {
    let sim = seed_simulation(STEPS);
    let pts = |g: &dyn Fn(&super::SeedRow) -> &Rat| -> Vec<(f64, f64)> {
        sim.rows.iter().map(|r| (r.step as f64, f(g(r)))).collect()
    };
    vec![
        (SEED_SERIES[0].into(), pts(&|r| &r.b_naive)),
        (SEED_SERIES[1].into(), pts(&|r| &r.b_correct)),
        (SEED_SERIES[2].into(), pts(&|r| &r.loss_naive)),
        (SEED_SERIES[3].into(), pts(&|r| &r.loss_correct)),
    ]
}

fn scale_series() -> Vec<Series> {
    let grow = scale_grow_case(STEPS);
    let flip = scale_flip_case(STEPS);
    let norm = weight_norm_simulation(STEPS);
    let a = |s: &super::ScaleSimulation| -> Vec<(f64, f64)> {
        s.rows.iter().map(|r| (r.step as f64, f(&r.a))).collect()
    };
    vec![
        (SCALE_SERIES[0].into(), a(&grow)),
        (SCALE_SERIES[1].into(), a(&flip)),
        (
            SCALE_SERIES[2].into(),
            flip.rows
                .iter()
                .map(|r| (r.step as f64, f(&r.loss)))
                .collect(),
        ),
        (
            SCALE_SERIES[3].into(),
            norm.iter().map(|r| (r.step as f64, r.norm2)).collect(),
        ),
    ]
}

/// The topic's plot as SVG text.
pub fn plot_svg(topic: &str) -> Result<String, ExplainError> {
    let series = match topic {
        "seed" => seed_series(),
        "scale" => scale_series(),
        _ => return Err(ExplainError::UnknownTopic(topic.to_string())),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let halves = root.split_evenly((1, 2));
        if topic == "seed" {
            panel(
                &halves[0],
                "bias b over the steps",
                "b",
                &[&series[0], &series[1]],
                &COLORS[..2],
                &[2, 2],
            )?;
            panel(
                &halves[1],
                "loss over the steps",
                "loss",
                &[&series[2], &series[3]],
                &COLORS[2..],
                // The two losses coincide: the naive one is drawn wider, underneath.
                &[6, 2],
            )?;
        } else {
            panel(
                &halves[0],
                "scale a under the naive update",
                "a (and the loss)",
                &[&series[0], &series[1], &series[2]],
                &COLORS[..3],
                &[2, 2, 2],
            )?;
            panel(
                &halves[1],
                "‖W‖² under the true gradient",
                "‖W‖²",
                &[&series[3]],
                &COLORS[3..],
                &[2],
            )?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}
