//! What a person at a terminal sees on standard error: text from the server with
//! control characters removed, a QR code, a spinner. QR codes and spinners only when
//! standard error is a terminal; pipes and log files get plain lines.

use indicatif::{ProgressBar, ProgressStyle};
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;
use std::io::IsTerminal;
use std::time::Duration;

/// `text` with every control character (C0, DEL, C1) and bidirectional override
/// replaced by `?`: text from a server or a token (an error description, a user code,
/// an issuer, a claim) must not move the cursor, recolour or retitle the terminal
/// (escape-sequence injection; C1 `U+009B` is a one-character CSI on many terminals),
/// nor reorder what is shown (Trojan Source).
pub fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if is_unsafe(c) { '?' } else { c })
        .collect()
}

/// JSON for a terminal: `value` pretty-printed, with DEL, the C1 controls and the
/// bidirectional overrides written as `\uXXXX` escapes. serde_json escapes only
/// U+0000–U+001F; these characters can occur only inside JSON strings, so the result
/// is still valid JSON with exactly the same value.
///
/// # Errors
/// If `value` cannot be serialised.
pub fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let text = serde_json::to_string_pretty(value)?;
    Ok(escape_json_text(&text))
}

/// [`json_text`]'s second step, on already serialised JSON.
fn escape_json_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        // C0 controls in strings are already escaped; those outside strings are the
        // pretty-printer's own line breaks.
        if u32::from(c) >= 0x7f && is_unsafe(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// Control characters (`char::is_control`: C0, DEL, C1) and the bidirectional
/// embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069).
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Whether standard error is a terminal.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// `data` as a QR code in Unicode half blocks (two modules per character cell), light
/// on dark so that phones read it from a dark terminal; `None` if it does not fit in a
/// QR code.
pub fn qr_code(data: &str) -> Option<String> {
    let code = QrCode::new(data.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

/// A spinner with a message on standard error while the client waits; hidden when
/// standard error is not a terminal. Cleared when dropped.
pub struct Spinner(ProgressBar);

impl Spinner {
    /// Starts spinning with `message`.
    pub fn start(message: &str) -> Self {
        if !stderr_is_terminal() {
            return Self(ProgressBar::hidden());
        }
        let bar = ProgressBar::new_spinner().with_message(message.to_owned());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(TICK);
        Self(bar)
    }

    /// Replaces the message.
    pub fn set_message(&self, message: &str) {
        self.0.set_message(message.to_owned());
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// How often the spinner moves.
const TICK: Duration = Duration::from_millis(120);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_replaced() {
        assert_eq!(sanitize("ab\u{1b}[2Jc\nd\té"), "ab?[2Jc?d?é");
        // DEL, C1 (U+009B is a one-character CSI), a bidi override.
        assert_eq!(
            sanitize("a\u{7f}b\u{9b}31mc\u{85}d\u{202e}e"),
            "a?b?31mc?d?e"
        );
    }

    #[test]
    fn json_for_the_terminal_escapes_del_c1_and_bidi_and_stays_the_same_json() {
        let value = serde_json::json!({
            "k\u{9b}ey": "x\u{1b}[2J\u{7f}\u{9b}31m\u{85}\u{202e}é\u{a0}",
            "n": [1, 2.5],
        });
        let text = json_text(&value).unwrap();
        assert!(
            !text
                .chars()
                .any(|c| c != '\n' && (c.is_control() || c == '\u{202e}')),
            "{text:?}"
        );
        assert!(
            text.contains("\\u007f") && text.contains("\\u009b"),
            "{text}"
        );
        assert!(text.contains("\\u202e") && text.contains('é') && text.contains('\u{a0}'));
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn a_url_fits_in_a_qr_code() {
        let qr = qr_code("https://login.example.com/device?user_code=BCDF-GHJK").unwrap();
        assert!(qr.lines().count() > 10, "{qr}");
    }
}
