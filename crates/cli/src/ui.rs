//! Terminal output: colour only on a terminal (and never with `NO_COLOR`),
//! spinners on stderr only on a terminal, JSON for scripts, and no-echo prompts.

use crate::error::{CliError, CliResult};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::io::IsTerminal;
use std::time::Duration;
use zeroize::Zeroizing;

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ui {
    /// Print JSON documents instead of text (read commands).
    pub json: bool,
    /// Colour the text.
    pub color: bool,
    /// Show spinners.
    pub progress: bool,
}

/// A colour or emphasis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    /// Success.
    Green,
    /// Attention.
    Yellow,
    /// Refusal.
    Red,
    /// Emphasis.
    Bold,
    /// Less important.
    Dim,
}

impl Ui {
    /// Decides colour and progress from the terminal and the environment.
    pub fn detect(json: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
            || std::env::var("TERM").is_ok_and(|t| t == "dumb");
        Self {
            json,
            color: !json && !no_color && std::io::stdout().is_terminal(),
            progress: !json && std::io::stderr().is_terminal(),
        }
    }

    /// Plain output: no colour, no spinners (for tests and the library's callers).
    pub fn plain(json: bool) -> Self {
        Self { json, color: false, progress: false }
    }

    /// `text` in `paint`, if colour is on.
    pub fn paint(&self, paint: Paint, text: &str) -> String {
        if !self.color {
            return text.to_owned();
        }
        let code = match paint {
            Paint::Green => "32",
            Paint::Yellow => "33",
            Paint::Red => "31",
            Paint::Bold => "1",
            Paint::Dim => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    /// A success line on stdout (text mode only).
    pub fn done(&self, text: &str) {
        if !self.json {
            println!("{} {text}", self.paint(Paint::Green, "✓"));
        }
    }

    /// A line on stdout (text mode only).
    pub fn line(&self, text: &str) {
        if !self.json {
            println!("{text}");
        }
    }

    /// A warning on stderr (always).
    pub fn warn(&self, text: &str) {
        let color = self.color && std::io::stderr().is_terminal();
        if color {
            eprintln!("\x1b[33mwarning:\x1b[0m {text}");
        } else {
            eprintln!("warning: {text}");
        }
    }

    /// Prints `value` as pretty JSON on stdout.
    pub fn json<T: Serialize>(&self, value: &T) -> CliResult<()> {
        let s = serde_json::to_string_pretty(value).map_err(|e| CliError::failed(format!("JSON output: {e}")))?;
        println!("{s}");
        Ok(())
    }

    /// Prints `value` as JSON in JSON mode, else runs `text` to print it for people.
    pub fn emit<T: Serialize>(&self, value: &T, text: impl FnOnce()) -> CliResult<()> {
        if self.json {
            return self.json(value);
        }
        text();
        Ok(())
    }

    /// A spinner on stderr with `message`, or nothing when not on a terminal.
    pub fn spinner(&self, message: &str) -> Spinner {
        if !self.progress {
            return Spinner(None);
        }
        let pb = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            pb.set_style(style);
        }
        pb.set_message(message.to_owned());
        pb.enable_steady_tick(Duration::from_millis(120));
        Spinner(Some(pb))
    }
}

/// A running spinner; cleared when dropped.
#[derive(Debug)]
pub struct Spinner(Option<ProgressBar>);

impl Spinner {
    /// Changes the message.
    pub fn set(&self, message: &str) {
        if let Some(pb) = &self.0 {
            pb.set_message(message.to_owned());
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}

/// Asks for a secret without echo. Refuses when there is no terminal to ask on.
pub fn prompt_secret(prompt: &str) -> CliResult<Zeroizing<String>> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(format!(
            "{} needs a terminal to ask on (or set the environment variable the command's help names)",
            prompt.trim_end_matches([':', ' '])
        )));
    }
    rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .map_err(|e| CliError::failed(format!("reading from the terminal: {e}")))
}

/// Asks a yes/no question on the terminal; `false` without a terminal.
pub fn confirm(question: &str) -> CliResult<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(|e| CliError::failed(format!("reading from the terminal: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

/// Whether stdin is a terminal.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_is_off_unless_asked_for() {
        let plain = Ui::plain(false);
        assert_eq!(plain.paint(Paint::Red, "no"), "no");
        let coloured = Ui { json: false, color: true, progress: false };
        assert_eq!(coloured.paint(Paint::Green, "ok"), "\x1b[32mok\x1b[0m");
        // Tests run without a terminal: detection turns colour and spinners off.
        let detected = Ui::detect(false);
        assert!(!detected.progress || std::io::stderr().is_terminal());
        assert!(!Ui::detect(true).color);
    }
}
