//! The Mottak agent.
//!
//! Module map:
//! - `commands`: the command line, one module per subcommand.
//! - `pipeline`: the one shape every pipeline has (setup, run, `Health`) and its supervisor.
//! - `channels`: which pipelines a config asks for, with what consoles show of each.
//! - `clock`: the one clock, injected (tests set the time).
//! - `doctor`: the result of `mottak-agent doctor`: its JSON, the file in the state dir the agent reads.
//! - `backoff`: retry delays (exponential with jitter), pure.
//! - `svarinn_client`: HTTP calls to SvarInn, with failures classified for retry.
//! - `inbound`: the SvarInn → drop folder pipeline (`fetch`: download → decrypt → file).
//! - `systemd`: READY/STATUS/WATCHDOG/STOPPING notifications, best-effort.
//! - `config`: the TOML config file: types, defaults, parsing, validation.
//! - `secret`: secret references, the unprintable `Secret`, private-file reads.
//! - `keys`: private keys (mode-checked) paired with their certificates; expiry.
//! - `names`: names from outside made safe (forsendelse ids, file names).
//! - `unzip`: safe extraction of a forsendelse's zip.
//! - `journal`: the SQLite journal: one row per forsendelse, its state machine, migrations.
//! - `dropfolder`: the fagsystem's drop folder: staging, durable publish into `inn/`, `feilet/`.
//! - `logging`: tracing to stderr (journald-aware) and daily files; fødselsnumre masked.
//! - `console_api`: the console websocket API: identity, access lists, commands, audit, state.
//! - `maskinporten`: the JWT grant (RS256, x5c) and the cached access token.
//! - `fiks_client`: HTTP to Fiks Digisos: public key, file list, streamed encrypted uploads, updates.
//! - `outbound`: the `ut/` → Fiks Digisos pipeline (claim, validate, supersede, upload, post).
//! - `fiks_io`: the Fiks IO → drop folder pipeline (AMQP consumer, delivery, receipts).
//! - `telemetry`: what `/metrics` counts and times (SvarInn calls, journeys, Fiks, Maskinporten).

pub mod backoff;
pub mod channels;
pub mod clock;
pub mod commands;
pub mod config;
pub mod console_api;
pub mod doctor;
pub mod dropfolder;
pub mod fiks_client;
pub mod fiks_io;
pub mod inbound;
pub mod journal;
pub mod keys;
pub mod logging;
pub mod maskinporten;
pub mod names;
pub mod outbound;
pub mod pipeline;
pub mod secret;
pub mod svarinn_client;
pub mod systemd;
pub mod telemetry;
pub mod unzip;
