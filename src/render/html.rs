//! Self-contained HTML pages: one file each, inline CSS, MathML Core for
//! formulas, no script, no fonts or images fetched from anywhere.

use super::mathml::escape;
use std::fmt::{self, Write};

/// One entry of a navigation bar: a label and a relative link.
#[derive(Clone, Debug)]
pub struct NavLink {
    pub label: String,
    pub href: String,
}

/// The style sheet every page carries.
const CSS: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:60rem;margin:0 auto;padding:0 1rem 3rem;line-height:1.5;color:#1b1b1b;background:#fff}
nav{border-bottom:1px solid #ccc;padding:.6rem 0;margin-bottom:1rem;font-size:.95rem}
nav a{margin-right:.9rem;text-decoration:none;color:#0645ad;white-space:nowrap;display:inline-block}
nav a[aria-current]{font-weight:bold;color:#000}
h1{font-size:1.7rem}h2{font-size:1.35rem;border-bottom:1px solid #eee}
math{font-size:1.1em}
math[display=block]{margin:.6rem 0;overflow-x:auto}
table{border-collapse:collapse;margin:.6rem 0}
table.calc td,table.aligned td{padding:.25rem .5rem;vertical-align:middle}
td.rel{text-align:center}td.lhs{text-align:right}
td.note{color:#444;font-size:.9rem}
table.grid td,table.grid th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto}
pre.display{background:none;border-left:3px solid #ccc;font-family:'DejaVu Serif',serif;font-style:italic;font-size:1.05em}
table.aligned,table.calc{display:block;max-width:100%;overflow-x:auto}
figure.plot{margin:1rem 0;overflow-x:auto}
.ok{color:#1a7f37}.bad{color:#cf222e;font-weight:bold}
";

/// A whole HTML document around `body`: title, style, navigation bar.
pub fn document(
    out: &mut impl Write,
    title: &str,
    nav: &[NavLink],
    current: Option<&str>,
    body: &str,
) -> fmt::Result {
    writeln!(out, "<!DOCTYPE html>")?;
    writeln!(out, "<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">")?;
    writeln!(
        out,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    writeln!(out, "<title>{}</title>", escape(title))?;
    writeln!(out, "<style>\n{CSS}</style>\n</head>\n<body>")?;
    if !nav.is_empty() {
        write!(out, "<nav>")?;
        for l in nav {
            let cur = if Some(l.href.as_str()) == current {
                " aria-current=\"page\""
            } else {
                ""
            };
            write!(
                out,
                "<a href=\"{}\"{cur}>{}</a>",
                escape(&l.href),
                escape(&l.label)
            )?;
        }
        writeln!(out, "</nav>")?;
    }
    writeln!(out, "<main>\n{body}</main>\n</body>\n</html>")
}
