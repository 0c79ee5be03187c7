//! The activity chart: webhook events and sync runs per minute over the last hour, as inline
//! SVG rendered on the server (no script, no external asset).

use std::fmt::Write as _;

use super::activity::Minute;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 140.0;
const LEFT: f64 = 36.0;
const BOTTOM: f64 = 18.0;
const TOP: f64 = 8.0;

/// Two bars per minute (webhooks, sync runs), a y-axis with the maximum and a legend.
pub fn activity_svg(series: &[Minute]) -> String {
    let max = series
        .iter()
        .map(|m| m.webhooks.max(m.runs))
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_w = WIDTH - LEFT - 4.0;
    let plot_h = HEIGHT - BOTTOM - TOP;
    let slot = plot_w / series.len().max(1) as f64;
    let bar = (slot / 2.0 - 0.5).max(0.5);
    let mut out = String::new();
    let total_w: u64 = series.iter().map(|m| m.webhooks).sum();
    let total_r: u64 = series.iter().map(|m| m.runs).sum();
    let _ = write!(
        out,
        "<svg class=\"chart\" role=\"img\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" xmlns=\"http://www.w3.org/2000/svg\" \
         data-webhooks=\"{total_w}\" data-runs=\"{total_r}\">\
         <title>Webhook events and sync runs per minute, last hour: {total_w} events, {total_r} runs</title>"
    );
    let base = TOP + plot_h;
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" class=\"axis\"/>\
         <line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{base}\" class=\"axis\"/>\
         <text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"end\">{max}</text>\
         <text x=\"{}\" y=\"{base}\" class=\"tick\" text-anchor=\"end\">0</text>\
         <text x=\"{LEFT}\" y=\"{}\" class=\"tick\">60 min ago</text>\
         <text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"end\">now</text>",
        LEFT + plot_w,
        LEFT - 4.0,
        TOP + 8.0,
        LEFT - 4.0,
        HEIGHT - 4.0,
        LEFT + plot_w,
        HEIGHT - 4.0,
    );
    for (i, m) in series.iter().enumerate() {
        let x = LEFT + i as f64 * slot + 0.5;
        for (j, (value, class)) in [(m.webhooks, "webhooks"), (m.runs, "runs")]
            .into_iter()
            .enumerate()
        {
            if value == 0 {
                continue;
            }
            let h = (value as f64 / max as f64 * plot_h).max(1.0);
            let ago = series.len() - 1 - i;
            let _ = write!(
                out,
                "<rect class=\"{class}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\">\
                 <title>{value} {} {ago} min ago</title></rect>",
                x + j as f64 * bar,
                base - h,
                if class == "webhooks" { "webhook events" } else { "sync runs" },
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_only_where_something_happened_and_scaled_to_the_maximum() {
        let mut series = vec![Minute::default(); 60];
        series[59] = Minute {
            minute: 0,
            webhooks: 4,
            runs: 2,
        };
        let svg = activity_svg(&series);
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("data-webhooks=\"4\""));
        assert!(svg.contains(">4</text>"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}
