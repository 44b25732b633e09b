//! The overview's cards: each a figure for the chosen period and how it compares with the same
//! days before, read one way: "27 new", "▼ 58 % against 64 in 1–2 Nov".

use crate::{index::Change, web::fmt_int};

/// Which way a change is good, for its colour (the arrow and words say it without colour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Good {
    /// More is better (new, active).
    Up,
    /// Less is better (cancelled).
    Down,
}

/// A figure compared with an earlier one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compared {
    /// `▲`, `▼`, or none when unchanged.
    pub arrow: Option<&'static str>,
    /// "up" or "down", for screen readers (the arrow is hidden from them).
    pub direction: &'static str,
    /// "58 % against 64 in 1–2 Nov".
    pub text: String,
    /// CSS class: `better`, `worse` or `same`.
    pub class: &'static str,
}

/// A percentage as people read one: one decimal under 10 %, whole above.
fn percent(p: f64) -> String {
    if p < 10.0 {
        format!("{p:.1}\u{a0}%")
    } else {
        format!("{}\u{a0}%", fmt_int(p.round() as i64))
    }
}

/// `now` against `before`, said "… against {before} {when}"; as a percentage when `relative`
/// and `before` is not zero, else as the difference.
pub fn compare(now: i64, before: i64, when: &str, relative: bool, good: Good) -> Compared {
    compare_shown(now, (before, &fmt_int(before)), when, relative, good)
}

/// [`compare`] with `before` shown as the caller writes it (signed, for a net figure).
fn compare_shown(
    now: i64,
    (before, before_text): (i64, &str),
    when: &str,
    relative: bool,
    good: Good,
) -> Compared {
    let diff = now - before;
    if diff == 0 {
        return Compared {
            arrow: None,
            direction: "",
            text: format!("the same as {before_text} {when}"),
            class: "same",
        };
    }
    let amount = if relative && before != 0 {
        percent(diff.unsigned_abs() as f64 * 100.0 / before.unsigned_abs() as f64)
    } else {
        fmt_int(diff.abs())
    };
    let up = diff > 0;
    Compared {
        arrow: Some(if up { "▲" } else { "▼" }),
        direction: if up { "up" } else { "down" },
        text: format!("{amount} against {before_text} {when}"),
        class: match (up, good) {
            (true, Good::Up) | (false, Good::Down) => "better",
            _ => "worse",
        },
    }
}

/// One card.
#[derive(Debug, Clone)]
pub struct Card {
    /// "New".
    pub label: &'static str,
    /// "27".
    pub value: String,
    /// What the figure counts: "activations in 1–2 Dec", "active plans, every product".
    pub counts: String,
    /// The comparison.
    pub compared: Compared,
}

/// A signed figure: `+12`, `-3`, `0`.
pub fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{}", fmt_int(n))
    } else {
        fmt_int(n)
    }
}

/// What the cards are made of.
#[derive(Debug, Clone, Copy)]
pub struct Figures<'a> {
    /// The chosen period and the one before.
    pub current: Change,
    /// The period compared with.
    pub previous: Change,
    /// Active plans now (the selected products).
    pub active_now: i64,
    /// Of those, plans of a free product (not billed).
    pub free_now: i64,
    /// Free plans at the start of the period.
    pub free_start: i64,
    /// "in 1–2 Dec".
    pub period_words: &'a str,
    /// "in 1–2 Nov".
    pub previous_words: &'a str,
    /// "1 Dec": the first day of the period.
    pub start_words: &'a str,
}

/// The cards: active, paid, new, cancelled and net.
pub fn cards(f: &Figures<'_>) -> Vec<Card> {
    let at_start = format!("at the start of {}", f.start_words);
    let paid_now = f.active_now - f.free_now;
    let paid_start = f.current.active_start - f.free_start;
    vec![
        Card {
            label: "Active now",
            value: fmt_int(f.active_now),
            counts: "active plans, free and paid".into(),
            compared: compare(
                f.active_now,
                f.current.active_start,
                &at_start,
                true,
                Good::Up,
            ),
        },
        Card {
            label: "Paid plans",
            value: fmt_int(paid_now),
            counts: "active plans other than Jetpack Free, which is not billed".into(),
            compared: compare(paid_now, paid_start, &at_start, true, Good::Up),
        },
        Card {
            label: "New",
            value: fmt_int(f.current.new),
            counts: format!("activations {}", f.period_words),
            compared: compare(
                f.current.new,
                f.previous.new,
                f.previous_words,
                true,
                Good::Up,
            ),
        },
        Card {
            label: "Cancelled",
            value: fmt_int(f.current.cancelled),
            counts: format!("cancellations {}", f.period_words),
            compared: compare(
                f.current.cancelled,
                f.previous.cancelled,
                f.previous_words,
                true,
                Good::Down,
            ),
        },
        Card {
            label: "Net",
            value: signed(f.current.net()),
            counts: format!("new less cancelled {}", f.period_words),
            compared: compare_shown(
                f.current.net(),
                (f.previous.net(), &signed(f.previous.net())),
                f.previous_words,
                false,
                Good::Up,
            ),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_reads_with_its_direction_its_size_and_what_it_is_against() {
        let c = compare(27, 64, "in 1–2 Nov", true, Good::Up);
        assert_eq!(
            (c.arrow, c.text.as_str(), c.class),
            (Some("▼"), "58\u{a0}% against 64 in 1–2 Nov", "worse")
        );
        let c = compare(70, 64, "in 1–2 Nov", true, Good::Down);
        assert_eq!(
            (c.arrow, c.text.as_str(), c.class),
            (Some("▲"), "9.4\u{a0}% against 64 in 1–2 Nov", "worse")
        );
        let c = compare(5, 0, "in 1 Nov", true, Good::Up);
        assert_eq!(c.text, "5 against 0 in 1 Nov", "no percentage of nothing");
        let c = compare(1234, 1234, "at the start of 1 Dec", true, Good::Up);
        assert_eq!(
            (c.arrow, c.text.as_str()),
            (None, "the same as 1,234 at the start of 1 Dec")
        );
        let c = compare(-3, 12, "in 1–2 Nov", false, Good::Up);
        assert_eq!(c.text, "15 against 12 in 1–2 Nov");
    }

    #[test]
    fn the_net_card_signs_both_figures_and_paid_plans_leave_free_out() {
        let f = Figures {
            current: Change {
                new: 5,
                cancelled: 8,
                active_start: 100,
                active_end: 97,
            },
            previous: Change {
                new: 9,
                cancelled: 2,
                ..Change::default()
            },
            active_now: 97,
            free_now: 10,
            free_start: 12,
            period_words: "in 1–2 Dec",
            previous_words: "in 1–2 Nov",
            start_words: "1 Dec",
        };
        let cards = cards(&f);
        let net = &cards[4];
        assert_eq!(net.value, "-3");
        assert_eq!(net.compared.text, "10 against +7 in 1–2 Nov");
        assert_eq!(net.compared.arrow, Some("▼"));
        assert_eq!(cards[1].value, "87");
        assert_eq!(
            cards[1].compared.text,
            "1.1\u{a0}% against 88 at the start of 1 Dec"
        );
    }
}
