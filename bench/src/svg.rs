//! A small SVG line plot written by hand (no plotting dependency): panels side by side, log-log
//! axes, one line per series through the medians with a min–max whisker at every point, and
//! dashed horizontal target lines. Enough for "compile and apply time against N".

use std::fmt::Write as _;

use crate::stats::Summary;

/// One line of a panel.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// CSS colour.
    pub color: String,
    /// `(x, y)` points; the line joins the medians, the whisker spans min–max.
    pub points: Vec<(f64, Summary)>,
}

/// One panel: its own axes and series.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    /// Title above the panel.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Lines.
    pub series: Vec<Series>,
    /// Horizontal dashed lines: `(y, label)`.
    pub targets: Vec<(f64, String)>,
}

const PANEL_W: f64 = 470.0;
const PANEL_H: f64 = 360.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = 14.0;
const TOP: f64 = 54.0;
const BOTTOM: f64 = 48.0;

/// Escapes text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Decade bounds `[10^a, 10^b]` covering all positive `values`.
fn decades(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| *v > 0.0 && v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let a = lo.log10().floor();
    let mut b = hi.log10().ceil();
    if b <= a {
        b = a + 1.0;
    }
    (a, b)
}

/// Tick label for `10^e` scaled values.
fn tick_label(v: f64) -> String {
    if v >= 1000.0 {
        let k = v / 1000.0;
        if k.fract() == 0.0 {
            format!("{k:.0}k")
        } else {
            format!("{k}k")
        }
    } else if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// Renders `panels` side by side with an overall `title` and a `note` line under it.
pub fn render(title: &str, note: &str, panels: &[Panel]) -> String {
    let width = PANEL_W * panels.len().max(1) as f64;
    let height = PANEL_H + 50.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">"
    );
    let _ = writeln!(
        s,
        "<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{}</text>\n<text x=\"{}\" y=\"34\" text-anchor=\"middle\" fill=\"#555\">{}</text>",
        width / 2.0,
        esc(title),
        width / 2.0,
        esc(note)
    );
    for (i, p) in panels.iter().enumerate() {
        panel(&mut s, p, PANEL_W * i as f64, 40.0);
    }
    s.push_str("</svg>\n");
    s
}

fn panel(s: &mut String, p: &Panel, x0: f64, y0: f64) {
    let (px, py) = (x0 + LEFT, y0 + TOP);
    let (pw, ph) = (PANEL_W - LEFT - RIGHT, PANEL_H - TOP - BOTTOM);
    let (xa, xb) = decades(
        p.series
            .iter()
            .flat_map(|s| s.points.iter().map(|(x, _)| *x)),
    );
    let (ya, yb) = decades(
        p.series
            .iter()
            .flat_map(|s| s.points.iter().flat_map(|(_, y)| [y.min, y.max]))
            .chain(p.targets.iter().map(|(y, _)| *y)),
    );
    let fx = |x: f64| px + (x.log10() - xa) / (xb - xa) * pw;
    let fy = |y: f64| py + ph - (y.max(1e-12).log10() - ya) / (yb - ya) * ph;
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\" font-weight=\"bold\">{}</text>",
        px + pw / 2.0,
        y0 + 16.0,
        esc(&p.title)
    );
    let _ = writeln!(
        s,
        "<rect x=\"{px}\" y=\"{py}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#999\"/>"
    );
    // Grid and ticks: every decade, plus 2 and 5 on the y axis when it spans few decades.
    let mut e = xa;
    while e <= xb + 1e-9 {
        let v = 10f64.powf(e);
        let x = fx(v);
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{py}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#eee\"/><text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            py + ph,
            py + ph + 14.0,
            tick_label(v)
        );
        e += 1.0;
    }
    let minors: &[f64] = if yb - ya <= 3.0 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let mut e = ya;
    while e <= yb + 1e-9 {
        for m in minors {
            let v = m * 10f64.powf(e);
            if v.log10() > yb + 1e-9 {
                continue;
            }
            let y = fy(v);
            let _ = writeln!(
                s,
                "<line x1=\"{px}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#eee\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                px + pw,
                px - 4.0,
                y + 4.0,
                tick_label(v)
            );
        }
        e += 1.0;
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        px + pw / 2.0,
        py + ph + 32.0,
        esc(&p.x_label)
    );
    let _ = writeln!(
        s,
        "<text transform=\"translate({},{}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        x0 + 16.0,
        py + ph / 2.0,
        esc(&p.y_label)
    );
    for (y, label) in &p.targets {
        let yy = fy(*y);
        let _ = writeln!(
            s,
            "<line x1=\"{px}\" y1=\"{yy:.1}\" x2=\"{}\" y2=\"{yy:.1}\" stroke=\"#c00\" stroke-dasharray=\"5,4\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#c00\">{}</text>",
            px + pw,
            px + pw - 4.0,
            yy - 4.0,
            esc(label)
        );
    }
    for (k, series) in p.series.iter().enumerate() {
        let pts: Vec<String> = series
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", fx(*x), fy(y.median)))
            .collect();
        let _ = writeln!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>",
            pts.join(" "),
            series.color
        );
        for (x, y) in &series.points {
            let xx = fx(*x);
            let _ = writeln!(
                s,
                "<line x1=\"{xx:.1}\" y1=\"{:.1}\" x2=\"{xx:.1}\" y2=\"{:.1}\" stroke=\"{c}\"/><circle cx=\"{xx:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{c}\"/>",
                fy(y.min),
                fy(y.max),
                fy(y.median),
                c = series.color
            );
        }
        // Legend, top left inside the panel.
        let ly = py + 14.0 + 14.0 * k as f64;
        let _ = writeln!(
            s,
            "<line x1=\"{}\" y1=\"{ly:.1}\" x2=\"{}\" y2=\"{ly:.1}\" stroke=\"{}\" stroke-width=\"2\"/><text x=\"{}\" y=\"{:.1}\">{}</text>",
            px + 8.0,
            px + 26.0,
            series.color,
            px + 30.0,
            ly + 4.0,
            esc(&series.label)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_well_formed_document() {
        let sum = |v: f64| Summary {
            median: v,
            min: v * 0.9,
            max: v * 1.2,
            n: 3,
        };
        let svg = render(
            "t <&>",
            "note",
            &[Panel {
                title: "p".into(),
                x_label: "hosts".into(),
                y_label: "ms".into(),
                series: vec![Series {
                    label: "compile".into(),
                    color: "#1f77b4".into(),
                    points: vec![(100.0, sum(1.0)), (100_000.0, sum(700.0))],
                }],
                targets: vec![(50.0, "target 50 ms".into())],
            }],
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("t &lt;&amp;&gt;"));
        assert!(svg.contains("100k") && svg.contains("polyline"));
        assert_eq!(decades([3.0, 700.0].into_iter()), (0.0, 3.0));
    }
}
