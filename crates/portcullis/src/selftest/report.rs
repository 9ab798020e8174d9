//! The outcome of each check and how the report is printed: a table for a person, or
//! JSON for a pipeline. Text that came from the server is cleaned of control
//! characters before it reaches a terminal.

use serde::Serialize;
use serde_json::{Value, json};

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The server does what the specification asks.
    Pass,
    /// Allowed, but unwise or not provable from outside; fails only with `--strict`.
    Warn,
    /// The server breaks the rule the check names.
    Fail,
    /// Not run: what it needs (a client, https, an earlier answer) is missing.
    Skip,
}

impl Status {
    /// The lower-case word printed in the table and the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
            Self::Skip => "skip",
        }
    }
}

/// One check's result: its stable id (e.g. `metadata.issuer_matches`), the
/// specification section it enforces, the verdict and a one-line reason.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Stable identifier, `area.rule`.
    pub id: &'static str,
    /// The RFC (or standard) section, e.g. `RFC 8414 §3.3`.
    pub section: &'static str,
    /// The verdict.
    pub status: Status,
    /// Why, on one line, without control characters.
    pub reason: String,
}

impl Outcome {
    /// An outcome with `reason` cleaned for a terminal.
    pub fn new(id: &'static str, section: &'static str, status: Status, reason: &str) -> Self {
        Self {
            id,
            section,
            status,
            reason: clean(reason),
        }
    }
}

/// How many checks ended in each status.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Summary {
    /// Passed checks.
    pub pass: usize,
    /// Warnings.
    pub warn: usize,
    /// Failures.
    pub fail: usize,
    /// Skipped checks.
    pub skip: usize,
}

/// Counts `outcomes` by status.
pub fn summarize(outcomes: &[Outcome]) -> Summary {
    let mut summary = Summary::default();
    for outcome in outcomes {
        let slot = match outcome.status {
            Status::Pass => &mut summary.pass,
            Status::Warn => &mut summary.warn,
            Status::Fail => &mut summary.fail,
            Status::Skip => &mut summary.skip,
        };
        *slot = slot.saturating_add(1);
    }
    summary
}

/// The report as a table: one line per check (`status  id  section  reason`), then
/// the counts.
pub fn table(issuer: &str, outcomes: &[Outcome]) -> String {
    let id_width = outcomes.iter().map(|o| o.id.len()).max().unwrap_or(0);
    let section_width = outcomes
        .iter()
        .map(|o| o.section.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = format!("selftest of {}\n", clean(issuer));
    for o in outcomes {
        out.push_str(&format!(
            "{:<4}  {:<id_width$}  {:<section_width$}  {}\n",
            o.status.as_str(),
            o.id,
            o.section,
            o.reason
        ));
    }
    let s = summarize(outcomes);
    out.push_str(&format!(
        "{} pass, {} warn, {} fail, {} skip\n",
        s.pass, s.warn, s.fail, s.skip
    ));
    out
}

/// The report as JSON: `{"issuer", "checks": [{id, section, status, reason}],
/// "summary": {pass, warn, fail, skip}}`.
pub fn json(issuer: &str, outcomes: &[Outcome]) -> Value {
    json!({
        "issuer": clean(issuer),
        "checks": outcomes,
        "summary": summarize(outcomes),
    })
}

/// `text` on one line, at most [`MAX_REASON`] characters, with control characters
/// (C0, DEL, C1) and bidirectional overrides shown as `?`: parts of a reason come from
/// the server and must not drive the terminal.
pub fn clean(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(MAX_REASON)
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control()
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                '?'
            }
            c => c,
        })
        .collect();
    if text.chars().count() > MAX_REASON {
        out.push('…');
    }
    out
}

/// Longest reason shown.
const MAX_REASON: usize = 240;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_removes_control_characters_and_caps_the_length() {
        assert_eq!(clean("a\u{1b}[31mb\nc"), "a?[31mb c");
        assert_eq!(clean(&"x".repeat(300)).chars().count(), MAX_REASON + 1);
    }

    #[test]
    fn summary_counts_each_status() {
        let outcomes = [
            Outcome::new("a.b", "RFC 1", Status::Pass, "ok"),
            Outcome::new("a.c", "RFC 1", Status::Fail, "no"),
            Outcome::new("a.d", "RFC 1", Status::Fail, "no"),
            Outcome::new("a.e", "RFC 1", Status::Skip, "later"),
        ];
        let s = summarize(&outcomes);
        assert_eq!((s.pass, s.warn, s.fail, s.skip), (1, 0, 2, 1));
        assert!(table("https://id.example.com", &outcomes).contains("fail  a.c"));
    }
}
