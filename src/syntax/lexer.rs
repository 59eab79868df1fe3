//! Tokens of the expression language.

use super::error::PErr;
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::Zero;
use std::ops::Range;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Largest `|e|` accepted in a scientific literal such as `1e-5`.
pub const MAX_SCI_EXPONENT: u32 = 10_000;

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A name (NFC-normalized).
    Name(String),
    /// A pattern variable `?a` (the name without `?`).
    PVar(String),
    /// A numeric literal; `int` when it is a plain digit string.
    Num {
        value: BigRational,
        int: bool,
    },
    /// A run of superscript digits, possibly with a leading superscript minus.
    Sup(BigInt),
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    Root,
    LParen,
    RParen,
    LBrack,
    RBrack,
    Comma,
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
    Ne,
    Eof,
}

impl Tok {
    pub fn describe(&self) -> String {
        match self {
            Tok::Name(n) => format!("name `{n}`"),
            Tok::PVar(n) => format!("pattern variable `?{n}`"),
            Tok::Num { .. } => "a number".into(),
            Tok::Sup(_) => "a superscript exponent".into(),
            Tok::Plus => "`+`".into(),
            Tok::Minus => "`-`".into(),
            Tok::Star => "`*`".into(),
            Tok::Slash => "`/`".into(),
            Tok::Caret => "`^`".into(),
            Tok::Root => "`√`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::LBrack => "`[`".into(),
            Tok::RBrack => "`]`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Eq => "`=`".into(),
            Tok::Gt => "`>`".into(),
            Tok::Ge => "`>=`".into(),
            Tok::Lt => "`<`".into(),
            Tok::Le => "`<=`".into(),
            Tok::Ne => "`!=`".into(),
            Tok::Eof => "the end of the input".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub span: Range<usize>,
}

pub fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

pub fn is_name_continue(c: char) -> bool {
    c.is_alphabetic()
        || c.is_ascii_digit()
        || c == '_'
        || c == '\''
        || c == '′'
        || is_combining_mark(c)
}

fn sup_digit(c: char) -> Option<u32> {
    Some(match c {
        '⁰' => 0,
        '¹' => 1,
        '²' => 2,
        '³' => 3,
        '⁴' => 4,
        '⁵' => 5,
        '⁶' => 6,
        '⁷' => 7,
        '⁸' => 8,
        '⁹' => 9,
        _ => return None,
    })
}

/// Tokenize `src`; spans are offset by `base` (the position of `src` in the
/// whole file). The last token is always `Eof`.
pub fn lex(src: &str, base: usize) -> Result<Vec<Token>, PErr> {
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let at = |k: usize| chars.get(k).map(|&(_, c)| c);
    let pos = |k: usize| chars.get(k).map(|&(i, _)| i).unwrap_or(src.len());
    let mut out = Vec::new();
    let mut k = 0;
    while k < chars.len() {
        let (i, c) = chars[k];
        if c.is_whitespace() {
            k += 1;
            continue;
        }
        let single = |t: Tok| Token {
            tok: t,
            span: base + i..base + i + c.len_utf8(),
        };
        let simple = match c {
            '+' => Some(Tok::Plus),
            '-' | '−' => Some(Tok::Minus),
            '*' | '·' | '×' | '⋅' => Some(Tok::Star),
            '/' | '÷' => Some(Tok::Slash),
            '^' => Some(Tok::Caret),
            '√' => Some(Tok::Root),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBrack),
            ']' => Some(Tok::RBrack),
            ',' => Some(Tok::Comma),
            '≥' => Some(Tok::Ge),
            '≤' => Some(Tok::Le),
            '≠' => Some(Tok::Ne),
            _ => None,
        };
        if let Some(t) = simple {
            out.push(single(t));
            k += 1;
            continue;
        }
        match c {
            '=' | '>' | '<' | '!' => {
                let next_eq = at(k + 1) == Some('=');
                let (t, n) = match (c, next_eq) {
                    ('=', true) => {
                        return Err(PErr::new(
                            "unexpected `==`",
                            base + i..base + i + 2,
                            "a statement is written `lhs = rhs` with a single `=`",
                        ))
                    }
                    ('=', false) => (Tok::Eq, 1),
                    ('>', true) => (Tok::Ge, 2),
                    ('>', false) => (Tok::Gt, 1),
                    ('<', true) => (Tok::Le, 2),
                    ('<', false) => (Tok::Lt, 1),
                    ('!', true) => (Tok::Ne, 2),
                    _ => {
                        return Err(PErr::new(
                            "unexpected character `!`",
                            base + i..base + i + 1,
                            "write `!=` for \"not equal\"",
                        ))
                    }
                };
                out.push(Token {
                    tok: t,
                    span: base + i..base + i + n,
                });
                k += n;
            }
            '?' => {
                let start = k;
                k += 1;
                if !at(k).is_some_and(is_name_start) {
                    return Err(PErr::new(
                        "`?` must be followed by a name",
                        base + i..base + pos(k),
                        "pattern variables are written `?a`",
                    ));
                }
                while at(k).is_some_and(is_name_continue) {
                    k += 1;
                }
                let name: String = src[pos(start + 1)..pos(k)].nfc().collect();
                out.push(Token {
                    tok: Tok::PVar(name),
                    span: base + i..base + pos(k),
                });
            }
            '⁻' | '⁰' | '¹' | '²' | '³' | '⁴' | '⁵' | '⁶' | '⁷' | '⁸' | '⁹' => {
                let start = k;
                let neg = c == '⁻';
                if neg {
                    k += 1;
                }
                let dstart = k;
                let mut v = BigInt::zero();
                while let Some(d) = at(k).and_then(sup_digit) {
                    v = v * 10u32 + d;
                    k += 1;
                }
                if k == dstart {
                    return Err(PErr::new(
                        "superscript minus without superscript digits",
                        base + pos(start)..base + pos(k),
                        "write a negative exponent as `x⁻¹` or `x^(-1)`",
                    ));
                }
                out.push(Token {
                    tok: Tok::Sup(if neg { -v } else { v }),
                    span: base + pos(start)..base + pos(k),
                });
            }
            _ if c.is_ascii_digit() => {
                let start = k;
                while at(k).is_some_and(|c| c.is_ascii_digit()) {
                    k += 1;
                }
                let int_end = k;
                let mut frac_end = k;
                if at(k) == Some('.') && at(k + 1).is_some_and(|c| c.is_ascii_digit()) {
                    k += 1;
                    while at(k).is_some_and(|c| c.is_ascii_digit()) {
                        k += 1;
                    }
                    frac_end = k;
                }
                let mut exp: i64 = 0;
                let mut has_exp = false;
                if matches!(at(k), Some('e') | Some('E')) {
                    let mut j = k + 1;
                    let mut sign = 1i64;
                    if matches!(at(j), Some('-') | Some('+') | Some('−')) {
                        if at(j) != Some('+') {
                            sign = -1;
                        }
                        j += 1;
                    }
                    if at(j).is_some_and(|c| c.is_ascii_digit()) {
                        let estart = j;
                        while at(j).is_some_and(|c| c.is_ascii_digit()) {
                            j += 1;
                        }
                        let digits = &src[pos(estart)..pos(j)];
                        let e: Option<u32> = digits.parse().ok().filter(|&e| e <= MAX_SCI_EXPONENT);
                        match e {
                            Some(e) => exp = sign * e as i64,
                            None => {
                                return Err(PErr::new(
                                    "exponent of the numeric literal is too large",
                                    base + pos(start)..base + pos(j),
                                    format!(
                                        "scientific notation accepts exponents up to {MAX_SCI_EXPONENT}"
                                    ),
                                ))
                            }
                        }
                        has_exp = true;
                        k = j;
                    }
                }
                let int_digits = &src[pos(start)..pos(int_end)];
                let frac_digits = if frac_end > int_end {
                    &src[pos(int_end) + 1..pos(frac_end)]
                } else {
                    ""
                };
                let all = format!("{int_digits}{frac_digits}");
                let mantissa: BigInt = all.parse().unwrap_or_default();
                let scale = exp - frac_digits.len() as i64;
                let ten = BigInt::from(10u32);
                let value = if scale >= 0 {
                    BigRational::from_integer(mantissa * num_traits::pow(ten, scale as usize))
                } else {
                    BigRational::new(mantissa, num_traits::pow(ten, (-scale) as usize))
                };
                out.push(Token {
                    tok: Tok::Num {
                        value,
                        int: frac_end == int_end && !has_exp,
                    },
                    span: base + pos(start)..base + pos(k),
                });
            }
            _ if is_name_start(c) => {
                let start = k;
                while at(k).is_some_and(is_name_continue) {
                    k += 1;
                }
                let name: String = src[pos(start)..pos(k)].nfc().collect();
                out.push(Token {
                    tok: Tok::Name(name),
                    span: base + i..base + pos(k),
                });
            }
            _ => {
                let hint = match c {
                    '.' => "numbers are written with a digit before the point: `0.5`".to_string(),
                    '{' | '}' => "group with parentheses `( )`".to_string(),
                    _ => "bnproof expressions use names, numbers, + - * / ^ √, sqrt, mean, sum, var, E, parentheses and brackets".to_string(),
                };
                return Err(PErr::new(
                    format!("unexpected character `{}`", c.escape_debug()),
                    base + i..base + i + c.len_utf8(),
                    hint,
                ));
            }
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        span: base + src.len()..base + src.len(),
    });
    Ok(out)
}
