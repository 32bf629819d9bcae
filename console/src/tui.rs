//! The console's loop: one `select!` over the terminal's events, the
//! agent's events and a one-second tick; every event goes through
//! [`App::update`]; the screen is drawn only when something changed, once per
//! batch of events already waiting (coalescing). The terminal is restored on
//! every way out: a normal quit, an error, SIGTERM/SIGHUP, and panics
//! (ratatui's panic hook, plus ours for the mouse).

use std::io::{self, Stdout};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, MouseEventKind};
use ratatui::crossterm::execute;
use ratatui::layout::Rect;
use ratatui::{TerminalOptions, Viewport};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::app::{Action, App, ClientEvent, Effect};
use crate::client::{self, Outgoing, Target};
use crate::i18n::Lang;
use crate::theme::ThemeKind;
use crate::ui;

/// What the console needs to start.
#[derive(Debug, Clone)]
pub struct Options {
    pub target: Target,
    pub lang: Lang,
    pub theme: ThemeKind,
    pub mouse: bool,
    pub exit_after_first_frame: bool,
    /// When the process started (for `first_frame_ms`).
    pub started: Instant,
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The process's peak resident set (VmHWM), in KiB.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

type Term = Terminal<CrosstermBackend<Stdout>>;

/// Puts the terminal into raw mode and the alternate screen (ratatui's
/// panic hook restores it). For the benchmark flag, a terminal that cannot
/// do that (no tty) gets a fixed 120x40 frame on stdout instead.
fn setup(opts: &Options) -> anyhow::Result<(Term, bool)> {
    match ratatui::try_init() {
        Ok(t) => {
            if opts.mouse {
                let _ = execute!(io::stdout(), event::EnableMouseCapture);
                let prev = std::panic::take_hook();
                std::panic::set_hook(Box::new(move |info| {
                    let _ = execute!(io::stdout(), event::DisableMouseCapture);
                    prev(info);
                }));
            }
            Ok((t, true))
        }
        Err(e) if opts.exit_after_first_frame => {
            let t = Terminal::with_options(
                CrosstermBackend::new(io::stdout()),
                TerminalOptions {
                    viewport: Viewport::Fixed(Rect::new(0, 0, 120, 40)),
                },
            )
            .with_context(|| format!("no terminal ({e}), and no fixed viewport either"))?;
            Ok((t, false))
        }
        Err(e) => Err(anyhow::anyhow!(
            "cannot use this terminal: {e} (run mottak in an interactive terminal; `mottak status` works without one)"
        )),
    }
}

fn restore(opts: &Options, raw: bool) {
    if raw {
        if opts.mouse {
            let _ = execute!(io::stdout(), event::DisableMouseCapture);
        }
        ratatui::restore();
    }
}

/// Runs the console until the person quits.
pub async fn run(opts: Options) -> anyhow::Result<ExitCode> {
    let (mut terminal, raw) = setup(&opts)?;
    let result = run_loop(&opts, &mut terminal).await;
    restore(&opts, raw);
    match result {
        Ok(Some(first_frame)) => {
            eprintln!(
                "first_frame_ms={} peak_rss_kib={}",
                first_frame.as_millis(),
                peak_rss_kib()
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(None) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e),
    }
}

fn input_thread(tx: mpsc::Sender<Event>, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("mottak-input".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match event::poll(Duration::from_millis(200)) {
                    Ok(true) => match event::read() {
                        Ok(ev) => {
                            if tx.blocking_send(ev).is_err() {
                                return;
                            }
                        }
                        Err(_) => return,
                    },
                    Ok(false) => {}
                    Err(_) => return,
                }
            }
        })
        .ok();
}

fn to_action(ev: Event) -> Option<Action> {
    match ev {
        Event::Key(k) => Some(Action::Key(k)),
        Event::Resize(..) => Some(Action::Resize),
        Event::Mouse(m) => match m.kind {
            MouseEventKind::ScrollDown => Some(Action::ScrollDown),
            MouseEventKind::ScrollUp => Some(Action::ScrollUp),
            _ => None,
        },
        _ => None,
    }
}

/// `Some(time to the first complete frame)` when `--exit-after-first-frame` ended it.
async fn run_loop(opts: &Options, terminal: &mut Term) -> anyhow::Result<Option<Duration>> {
    let (mut client_rx, cmd_tx) = client::spawn(opts.target.clone());
    let (input_tx, mut input_rx) = mpsc::channel::<Event>(256);
    let stop = Arc::new(AtomicBool::new(false));
    input_thread(input_tx, Arc::clone(&stop));
    let _stop_input = StopOnDrop(Arc::clone(&stop));

    let id_prefix = format!("{:x}-{:x}", std::process::id(), now_ms());
    let mut app = App::new(opts.lang, opts.theme, opts.target.describe(), id_prefix);
    app.update(Action::Tick(now_ms()));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sigterm = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut sighup = signal(SignalKind::hangup()).context("SIGHUP handler")?;

    let mut dirty = true;
    loop {
        if dirty {
            let height = terminal.size().map(|s| s.height).unwrap_or(24);
            app.page = usize::from(height.saturating_sub(10).max(1));
            terminal.draw(|f| ui::render(&app, f)).context("drawing")?;
            dirty = false;
            if opts.exit_after_first_frame && app.complete() {
                return Ok(Some(opts.started.elapsed()));
            }
        }
        let mut actions: Vec<Action> = Vec::new();
        tokio::select! {
            Some(ev) = input_rx.recv() => actions.extend(to_action(ev)),
            Some(ev) = client_rx.recv() => actions.push(Action::Client(ev)),
            _ = tick.tick() => actions.push(Action::Tick(now_ms())),
            _ = sigterm.recv() => return Ok(None),
            _ = sighup.recv() => return Ok(None),
        }
        // Coalesce: take everything already waiting before drawing again.
        for _ in 0..10_000 {
            match client_rx.try_recv() {
                Ok(ev) => actions.push(Action::Client(ev)),
                Err(_) => break,
            }
        }
        while let Ok(ev) = input_rx.try_recv() {
            actions.extend(to_action(ev));
        }
        let mut queue: std::collections::VecDeque<Action> = actions.into();
        while let Some(a) = queue.pop_front() {
            dirty = true;
            for effect in app.update(a) {
                match effect {
                    Effect::Quit => return Ok(None),
                    Effect::Send { id, command } => {
                        if cmd_tx
                            .try_send(Outgoing {
                                id: id.clone(),
                                command,
                            })
                            .is_err()
                        {
                            queue.push_back(Action::Client(ClientEvent::NotSent { id }));
                        }
                    }
                }
            }
        }
    }
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
