//! Colours and emphasis. State is never shown by colour alone: every status
//! also has a word and a symbol ([`Level::symbol`]), so the high-contrast
//! theme (no colours, only bold, reverse and underline) says the same.

use mottak_protocol::console::{ExpiryLevel, Severity};
use ratatui::style::{Color, Modifier, Style};

use crate::i18n::Texts;

/// The themes a person can choose (`--theme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum ThemeKind {
    /// Colours on the terminal's own background.
    Default,
    /// No colours: bold, reverse video and underline only.
    HighContrast,
}

/// How good or bad something is; each has a symbol and a style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Ok,
    Info,
    Warning,
    Critical,
}

impl Level {
    /// The symbol shown beside the word (never the colour alone).
    pub fn symbol(self) -> &'static str {
        match self {
            Level::Ok => "✔",
            Level::Info => "•",
            Level::Warning => "▲",
            Level::Critical => "✖",
        }
    }

    /// The word for it (`WARNING`, `ADVARSEL`).
    pub fn word(self, t: &Texts) -> &'static str {
        match self {
            Level::Ok => t.sev_ok,
            Level::Info => t.sev_info,
            Level::Warning => t.sev_warning,
            Level::Critical => t.sev_critical,
        }
    }
}

impl From<Severity> for Level {
    fn from(s: Severity) -> Level {
        match s {
            Severity::Info => Level::Info,
            Severity::Warning => Level::Warning,
            Severity::Critical => Level::Critical,
        }
    }
}

/// A certificate's expiry: soon is a warning, expired or unreadable critical.
impl From<ExpiryLevel> for Level {
    fn from(l: ExpiryLevel) -> Level {
        match l {
            ExpiryLevel::Ok => Level::Ok,
            ExpiryLevel::ExpiresSoon => Level::Warning,
            ExpiryLevel::Expired | ExpiryLevel::Unreadable => Level::Critical,
        }
    }
}

/// The styles the views use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub kind: ThemeKind,
    pub base: Style,
    pub title: Style,
    pub header: Style,
    pub tab: Style,
    pub tab_active: Style,
    pub table_header: Style,
    pub selected: Style,
    pub marked: Style,
    pub dim: Style,
    pub key: Style,
    pub border: Style,
    pub badge: Style,
    pub ok: Style,
    pub info: Style,
    pub warning: Style,
    pub critical: Style,
    pub dialog: Style,
    pub button: Style,
    pub button_focus: Style,
    pub spark: Style,
}

impl Theme {
    pub fn new(kind: ThemeKind) -> Theme {
        match kind {
            ThemeKind::Default => Theme {
                kind,
                base: Style::new(),
                title: Style::new().add_modifier(Modifier::BOLD),
                header: Style::new().add_modifier(Modifier::BOLD),
                tab: Style::new(),
                tab_active: Style::new()
                    .fg(Color::Cyan)
                    .add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
                table_header: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
                selected: Style::new().add_modifier(Modifier::REVERSED),
                marked: Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
                dim: Style::new().fg(Color::DarkGray),
                key: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
                border: Style::new().fg(Color::DarkGray),
                badge: Style::new()
                    .fg(Color::Black)
                    .bg(Color::Yellow)
                    .add_modifier(Modifier::BOLD),
                ok: Style::new().fg(Color::Green),
                info: Style::new().fg(Color::Blue),
                warning: Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                critical: Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
                dialog: Style::new(),
                button: Style::new(),
                button_focus: Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
                spark: Style::new().fg(Color::Green),
            },
            ThemeKind::HighContrast => {
                let plain = Style::new().fg(Color::Reset).bg(Color::Reset);
                let bold = plain.add_modifier(Modifier::BOLD);
                Theme {
                    kind,
                    base: plain,
                    title: bold,
                    header: bold,
                    tab: plain,
                    tab_active: bold.add_modifier(Modifier::REVERSED),
                    table_header: bold.add_modifier(Modifier::UNDERLINED),
                    selected: bold.add_modifier(Modifier::REVERSED),
                    marked: bold.add_modifier(Modifier::UNDERLINED),
                    dim: plain,
                    key: bold,
                    border: plain,
                    badge: bold.add_modifier(Modifier::REVERSED),
                    ok: plain,
                    info: plain,
                    warning: bold,
                    critical: bold.add_modifier(Modifier::REVERSED),
                    dialog: plain,
                    button: plain,
                    button_focus: bold.add_modifier(Modifier::REVERSED),
                    spark: plain,
                }
            }
        }
    }

    pub fn level(&self, level: Level) -> Style {
        match level {
            Level::Ok => self.ok,
            Level::Info => self.info,
            Level::Warning => self.warning,
            Level::Critical => self.critical,
        }
    }
}
