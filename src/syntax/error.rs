//! Parse errors with byte spans, 1-based line/column and a hint.

use ariadne::{CharSet, Config, IndexType, Label, Report, ReportKind, Source};
use std::fmt;
use std::ops::Range;

/// A parse error: what went wrong, where (byte offsets into the source and a
/// 1-based line and column, the column counted in characters) and a hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    /// Byte offset where the offending text starts.
    pub start: usize,
    /// Byte offset just past the offending text (`start == end` at the end of input).
    pub end: usize,
    pub hint: Option<String>,
    /// 1-based line of `start`.
    pub line: usize,
    /// 1-based column of `start`, counted in characters.
    pub col: usize,
}

impl ParseError {
    /// A plain-text (no colour, deterministic) report showing the line, the
    /// column, a caret under the span and the hint.
    pub fn render(&self, source_name: &str, src: &str) -> String {
        let len = src.len();
        let mut start = self.start.min(len);
        let mut end = self.end.min(len).max(start);
        // Keep the span on character boundaries.
        while start > 0 && !src.is_char_boundary(start) {
            start -= 1;
        }
        while end < len && !src.is_char_boundary(end) {
            end += 1;
        }
        // A very long line is shown as a window around the span (the real
        // column goes into the message), so a report stays readable.
        let (shown, start, end, message) = window(src, start, end, &self.message, self.col);
        let src = shown.as_str();
        let name = source_name.to_string();
        let mut report = Report::build(ReportKind::Error, (name.clone(), start..end))
            .with_config(
                Config::default()
                    .with_color(false)
                    .with_char_set(CharSet::Ascii)
                    .with_index_type(IndexType::Byte),
            )
            .with_message(&message)
            .with_label(Label::new((name.clone(), start..end)).with_message("here"));
        if let Some(h) = &self.hint {
            report = report.with_help(h);
        }
        let mut buf = Vec::new();
        let written = report
            .finish()
            .write((name.clone(), Source::from(src)), &mut buf);
        match written {
            Ok(()) => String::from_utf8_lossy(&buf).into_owned(),
            Err(_) => format!("{name}: {self}\n"),
        }
    }
}

/// Longest source line shown whole in a report.
const MAX_LINE: usize = 160;
/// Characters of context on each side of the span in a windowed line.
const CONTEXT: usize = 60;

fn window(
    src: &str,
    start: usize,
    end: usize,
    message: &str,
    col: usize,
) -> (String, usize, usize, String) {
    let line_start = src[..start].rfind('\n').map_or(0, |k| k + 1);
    let line_end = src[start..].find('\n').map_or(src.len(), |k| start + k);
    if line_end - line_start <= MAX_LINE {
        return (src.to_string(), start, end, message.to_string());
    }
    let back = |mut k: usize| {
        while k > line_start && !src.is_char_boundary(k) {
            k -= 1;
        }
        k
    };
    let fwd = |mut k: usize| {
        while k < line_end && !src.is_char_boundary(k) {
            k += 1;
        }
        k
    };
    let from = back(start.saturating_sub(CONTEXT).max(line_start));
    let to = fwd((end.max(start + 1) + CONTEXT).min(line_end));
    let prefix = if from > line_start { "..." } else { "" };
    let suffix = if to < line_end { "..." } else { "" };
    let mut shown = String::with_capacity(src.len().min(4096));
    shown.push_str(&src[..line_start]);
    shown.push_str(prefix);
    let new_start = shown.len() + (start - from);
    let new_end = new_start + (end.min(to) - start);
    shown.push_str(&src[from..to]);
    shown.push_str(suffix);
    shown.push_str(&src[line_end..]);
    let message = format!("{message} (column {col}; the line is shortened)");
    (shown, new_start, new_end, message)
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.col, self.message
        )
    }
}

impl std::error::Error for ParseError {}

/// An error before line/column are known.
#[derive(Clone, Debug)]
pub(crate) struct PErr {
    pub msg: String,
    pub span: Range<usize>,
    pub hint: Option<String>,
}

impl PErr {
    pub fn new(msg: impl Into<String>, span: Range<usize>, hint: impl Into<String>) -> PErr {
        PErr {
            msg: msg.into(),
            span,
            hint: Some(hint.into()),
        }
    }

    pub fn locate(self, src: &str) -> ParseError {
        let start = self.span.start.min(src.len());
        let end = self.span.end.min(src.len()).max(start);
        let (line, col) = line_col(src, start);
        ParseError {
            message: self.msg,
            start,
            end,
            hint: self.hint,
            line,
            col,
        }
    }
}

/// 1-based line and character column of a byte offset.
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut col = 1;
    for (i, c) in src.char_indices() {
        if i >= offset {
            break;
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}
