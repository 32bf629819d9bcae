//! `mottak`: the console. Parses the command line and runs the console,
//! `status` or `check`; the work is in the `mottak_console` library.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use mottak_console::cli::{Cli, Sub};
use mottak_console::headless::{self, Status, Thresholds};
use mottak_console::i18n::Lang;
use mottak_console::theme::ThemeKind;
use mottak_console::{client, tui};

fn main() -> ExitCode {
    let started = Instant::now();
    let cli = Cli::parse();
    let lang = cli.lang.unwrap_or_else(Lang::from_env);
    let theme = cli.theme.unwrap_or_else(|| {
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            ThemeKind::HighContrast
        } else {
            ThemeKind::Default
        }
    });
    let checking = matches!(cli.command, Some(Sub::Check(_)));
    let fail = |msg: String| {
        if checking {
            println!("MOTTAK UNKNOWN - {}", msg.replace('|', "/"));
            ExitCode::from(Status::Unknown.code())
        } else {
            eprintln!("mottak: {msg}");
            ExitCode::from(2)
        }
    };
    let target = match cli.conn.target() {
        Ok(t) => t,
        Err(e) => return fail(format!("{e:#}")),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    match cli.command {
        None => {
            let opts = tui::Options {
                target,
                lang,
                theme,
                mouse: cli.mouse,
                exit_after_first_frame: cli.exit_after_first_frame,
                started,
            };
            match runtime.block_on(tui::run(opts)) {
                Ok(code) => code,
                Err(e) => fail(format!("{e:#}")),
            }
        }
        Some(Sub::Status(args)) => {
            match runtime.block_on(client::fetch_once(&target, args.limit())) {
                Ok((welcome, state)) => {
                    let now = tui::now_ms();
                    if args.json {
                        match headless::status_json(&welcome, &state, now) {
                            Ok(s) => println!("{s}"),
                            Err(e) => return fail(format!("{e:#}")),
                        }
                    } else {
                        print!("{}", headless::status_text(&welcome, &state, now, lang));
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(format!("{e:#}")),
            }
        }
        Some(Sub::Check(args)) => {
            match runtime.block_on(client::fetch_once(&target, args.limit())) {
                Ok((_, state)) => {
                    let (status, line) = headless::check_line(
                        &state,
                        tui::now_ms(),
                        Thresholds {
                            warn_failed: args.warn_failed,
                            crit_failed: args.crit_failed,
                        },
                    );
                    println!("{line}");
                    ExitCode::from(status.code())
                }
                Err(e) => fail(format!("cannot reach the agent: {e:#}")),
            }
        }
    }
}
