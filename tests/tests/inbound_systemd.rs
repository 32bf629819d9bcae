//! systemd integration of `mottak-agent run`, as `Type=notify` with a
//! watchdog sees it: `READY=1`, `STATUS=` with the queue, repeated
//! `WATCHDOG=1`, and on SIGTERM `STOPPING=1` and exit 0 after a clean drain,
//! after which a restart finishes the work exactly once.
//!
//! `starts_as_the_unit_says` launches the agent the way systemd would from
//! `systemd/mottak-agent.service` plus the example drop-in
//! (`systemd/drop-in.example.conf`), reading both files rather than copying
//! what they say: ExecStart's arguments, a clean environment with the unit's
//! `Environment=` lines, `NOTIFY_SOCKET` (Type=notify), `WATCHDOG_USEC` from
//! `WatchdogSec=` with `WATCHDOG_PID` = the agent's own pid, a
//! `CREDENTIALS_DIRECTORY` holding each `LoadCredential=` file (0400 in a
//! 0500 folder, as systemd makes it), `UMask=`, `JOURNAL_STREAM` naming the
//! agent's stderr, `/` as working directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mottak_fixtures::svarinn::{Fault, RequestKind, Scope};
use mottak_tests::harness::{Ack, Agent, System, World, entries, kvitteringer_of, walk};

const LIMIT: Duration = Duration::from_secs(60);

/// Datagrams received on the notify socket, with when they came.
type Received = Arc<Mutex<Vec<(Instant, String)>>>;

fn listen(socket: &UnixDatagram, stop: Arc<AtomicBool>) -> (Received, std::thread::JoinHandle<()>) {
    let got: Received = Arc::default();
    let sock = socket.try_clone().unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let g = got.clone();
    let handle = std::thread::spawn(move || {
        let mut buf = vec![0u8; 4096];
        while !stop.load(Ordering::SeqCst) {
            if let Ok(n) = sock.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let mut g = g.lock().unwrap();
                for line in text.lines() {
                    g.push((Instant::now(), line.to_owned()));
                }
            }
        }
    });
    (got, handle)
}

fn lines(got: &Received) -> Vec<String> {
    got.lock().unwrap().iter().map(|(_, l)| l.clone()).collect()
}

fn count(got: &Received, prefix: &str) -> usize {
    lines(got).iter().filter(|l| l.starts_with(prefix)).count()
}

#[test]
fn notifies_ready_status_watchdog_and_stopping_then_drains_cleanly() {
    let world = World::single(
        System::new("ms-a")
            .ack(Ack::OnDelivery)
            .max_concurrent_downloads(2),
    )
    .unwrap();
    let sys = world.first().unwrap().clone();
    let ids = world.block_on(world.fake.generate(20, 20_000)).unwrap();
    // Slow downloads (about 1 s each, two at a time: 10 s for all), so some
    // are in flight when SIGTERM comes.
    world
        .fake
        .inject(
            Fault::Trickle {
                chunk: 2048,
                interval: Duration::from_millis(100),
            },
            Scope::every(RequestKind::Download),
        )
        .unwrap();

    let socket_path = world.dir().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (got, listener) = listen(&socket, stop.clone());

    let (mut cmd, log) = world.agent_command().unwrap();
    cmd.env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "2000000");
    let mut agent = Agent::spawn(&mut cmd, log).unwrap();

    world
        .wait(&mut agent, "READY=1", LIMIT, || count(&got, "READY=1") >= 1)
        .unwrap();
    world
        .wait(&mut agent, "STATUS= with a number", LIMIT, || {
            lines(&got)
                .iter()
                .any(|l| l.starts_with("STATUS=") && l.chars().any(|c| c.is_ascii_digit()))
        })
        .unwrap();
    // WATCHDOG_USEC=2 s: a ping at least every second.
    world
        .wait(&mut agent, "three WATCHDOG=1", LIMIT, || {
            count(&got, "WATCHDOG=1") >= 3
        })
        .unwrap();
    let pings: Vec<Instant> = got
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, l)| l == "WATCHDOG=1")
        .map(|(t, _)| *t)
        .collect();
    for pair in pings.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap < Duration::from_secs(2),
            "two watchdog pings {gap:?} apart: systemd would have killed the agent"
        );
    }
    world
        .wait(&mut agent, "the first delivery", LIMIT, || {
            ids.iter().any(|id| sys.is_published(id))
        })
        .unwrap();

    let status = agent.terminate(Duration::from_secs(30)).unwrap();
    assert!(
        status.success(),
        "SIGTERM must end in exit 0: {status}\n{}",
        agent.output_tail(30)
    );
    // The datagram may trail the exit by a moment.
    mottak_tests::wait_until("STOPPING=1", Duration::from_secs(5), || {
        count(&got, "STOPPING=1") >= 1
    })
    .unwrap();
    let all = lines(&got);
    let ready = all.iter().position(|l| l == "READY=1").unwrap();
    let stopping = all.iter().position(|l| l == "STOPPING=1").unwrap();
    assert!(ready < stopping, "{all:?}");
    assert_eq!(count(&got, "READY=1"), 1, "{all:?}");
    stop.store(true, Ordering::SeqCst);
    listener.join().unwrap();
    let delivered_before = entries(&sys.inn()).len();
    assert!(
        delivered_before < ids.len(),
        "SIGTERM came after all deliveries; the drain was not exercised"
    );

    // A restart (no systemd this time) finishes the work, each exactly once.
    world.fake.clear_faults();
    let mut agent = world.spawn_agent().unwrap();
    world.wait_published(&mut agent, &sys, &ids, LIMIT).unwrap();
    world.wait_acked(&mut agent, &ids, LIMIT).unwrap();
    world.wait_state(&mut agent, &ids, "acked", LIMIT).unwrap();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(entries(&sys.inn()), want);
    let events = world.fake.events();
    for id in &ids {
        assert!(!kvitteringer_of(&events, id).is_empty());
    }
    let staged = walk(&sys.staging()).unwrap();
    assert!(staged.is_empty(), "left in staging: {staged:?}");
    agent.assert_running().unwrap();
}

/// The `[Service]` directives of a unit and its drop-ins, in the order
/// systemd reads them (unit file first, then each drop-in).
#[derive(Debug, Default)]
struct ServiceSection {
    directives: Vec<(String, String)>,
}

impl ServiceSection {
    fn read(files: &[&Path]) -> ServiceSection {
        let mut out = ServiceSection::default();
        for file in files {
            let text = std::fs::read_to_string(file)
                .unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
            let mut section = String::new();
            let mut pending = String::new();
            for raw in text.lines() {
                let line = raw.trim();
                if pending.is_empty() && (line.is_empty() || line.starts_with(['#', ';'])) {
                    continue;
                }
                // A trailing backslash continues the line.
                if let Some(head) = line.strip_suffix('\\') {
                    pending.push_str(head);
                    pending.push(' ');
                    continue;
                }
                let line = format!("{pending}{line}");
                pending.clear();
                if line.starts_with('[') {
                    section = line.trim_matches(['[', ']']).to_owned();
                    continue;
                }
                if section != "Service" {
                    continue;
                }
                let (k, v) = line
                    .split_once('=')
                    .unwrap_or_else(|| panic!("{}: not key=value: {line}", file.display()));
                out.directives
                    .push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        out
    }

    /// The value systemd uses for a single-valued directive (the last one).
    fn last(&self, key: &str) -> Option<&str> {
        self.directives
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A list directive: every value in order, an empty assignment resetting it.
    fn list(&self, key: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in &self.directives {
            if k == key {
                if v.is_empty() {
                    out.clear();
                } else {
                    out.push(v.clone());
                }
            }
        }
        out
    }

    /// `Environment=` assignments: space-separated, optionally double-quoted.
    fn environment(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for line in self.list("Environment") {
            for word in split_quoted(&line) {
                let (k, v) = word
                    .split_once('=')
                    .unwrap_or_else(|| panic!("Environment= word without '=': {word}"));
                env.insert(k.to_owned(), v.to_owned());
            }
        }
        env
    }

    /// `LoadCredential=ID:PATH` pairs.
    fn credentials(&self) -> Vec<(String, PathBuf)> {
        self.list("LoadCredential")
            .iter()
            .map(|v| {
                let (id, path) = v
                    .split_once(':')
                    .unwrap_or_else(|| panic!("LoadCredential= without ID:PATH: {v}"));
                (id.to_owned(), PathBuf::from(path))
            })
            .collect()
    }
}

/// systemd's word splitting for `Environment=` and `ExecStart=` (double
/// quotes group, no other escapes used by our units).
fn split_quoted(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(cur);
    }
    words
}

/// `60s`, `1min`, `90`, `500ms` as systemd time spans (the forms our unit uses).
fn systemd_span(v: &str) -> Duration {
    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
    let n: u64 = digits.parse().unwrap_or_else(|_| panic!("time span {v:?}"));
    match &v[digits.len()..] {
        "" | "s" | "sec" => Duration::from_secs(n),
        "ms" | "msec" => Duration::from_millis(n),
        "m" | "min" => Duration::from_secs(n * 60),
        "h" | "hr" => Duration::from_secs(n * 3600),
        other => panic!("time span unit {other:?} in {v:?}"),
    }
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

#[test]
fn starts_as_the_unit_says() {
    let unit_path = repo_file("systemd/mottak-agent.service");
    let dropin_path = repo_file("systemd/drop-in.example.conf");
    let unit = ServiceSection::read(&[&unit_path, &dropin_path]);
    assert_eq!(
        unit.last("Type"),
        Some("notify"),
        "the unit must be Type=notify"
    );
    let watchdog = systemd_span(unit.last("WatchdogSec").expect("WatchdogSec="));
    let stop_timeout = systemd_span(unit.last("TimeoutStopSec").unwrap_or("90s"));
    let exec = split_quoted(unit.last("ExecStart").expect("ExecStart="));
    assert_eq!(exec[0], "/usr/bin/mottak-agent", "ExecStart: {exec:?}");
    let config_at = exec
        .iter()
        .position(|a| a == "--config")
        .expect("ExecStart passes --config");

    // The mottakersystem whose password the drop-in hands over as a credential.
    let credentials = unit.credentials();
    let (cred_id, cred_source) = credentials
        .first()
        .expect("the example drop-in has a LoadCredential= line")
        .clone();
    let system_name = cred_source
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("credential file name")
        .to_owned();

    let world = World::single(System::new(&system_name).ack(Ack::OnDelivery)).unwrap();
    let sys = world.first().unwrap().clone();
    let ids = world.block_on(world.fake.generate(5, 10_000)).unwrap();

    // The credentials folder systemd would make: each LoadCredential= source
    // (under /etc/mottak/secrets/ in the unit, under secrets/ in this world)
    // copied in, 0400 in a 0500 folder.
    let cred_dir = world.dir().join("credentials");
    std::fs::create_dir(&cred_dir).unwrap();
    for (id, source) in &credentials {
        let local = world
            .root
            .join("secrets")
            .join(source.file_name().expect("credential source file name"));
        let dest = cred_dir.join(id);
        std::fs::copy(&local, &dest)
            .unwrap_or_else(|e| panic!("credential {id}: copy {}: {e}", local.display()));
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o400)).unwrap();
    }
    std::fs::set_permissions(&cred_dir, std::fs::Permissions::from_mode(0o500)).unwrap();

    // The config reads the password only through the credential.
    let config = world.config_text().unwrap().replace(
        &format!("password = \"file:{}\"", sys.password_path.display()),
        &format!("password = \"credential:{cred_id}\""),
    );
    assert!(
        config.contains(&format!("credential:{cred_id}")),
        "{config}"
    );
    let config_path = world.dir().join("agent-systemd.toml");
    std::fs::write(&config_path, config).unwrap();
    // No other way to the password: the file: secret is gone.
    std::fs::remove_file(&sys.password_path).unwrap();

    let socket_path = world.dir().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (got, listener) = listen(&socket, stop.clone());

    let output = world.dir().join("agent-systemd.stderr");
    let out_file = std::fs::File::create(&output).unwrap();
    let meta = out_file.metadata().unwrap();
    let mut args: Vec<String> = exec[1..].to_vec();
    args[config_at] = config_path.display().to_string();
    let umask = unit.last("UMask").unwrap_or("0022").to_owned();
    let user = unit.last("User").expect("User=").to_owned();
    // `exec` keeps the shell's pid, so WATCHDOG_PID=$$ is the agent's pid,
    // as systemd sets it to the main process. argv after the binary is
    // ExecStart's, with the config path of this world.
    let mut cmd_args: Vec<std::ffi::OsString> = vec![
        "-c".into(),
        format!("umask {umask}; WATCHDOG_PID=$$; export WATCHDOG_PID; exec \"$@\"").into(),
        "mottak-agent".into(),
        mottak_tests::binary("mottak-agent").unwrap().into(),
    ];
    cmd_args.extend(args.iter().map(std::ffi::OsString::from));
    let mut cmd = Command::new("/bin/sh");
    cmd.args(&cmd_args)
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(out_file.try_clone().unwrap())
        .stderr(out_file)
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin")
        .env("USER", &user)
        .env("LOGNAME", &user)
        .env("HOME", world.dir())
        .env("SHELL", "/usr/sbin/nologin")
        .env("INVOCATION_ID", "0123456789abcdef0123456789abcdef")
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", watchdog.as_micros().to_string())
        .env("CREDENTIALS_DIRECTORY", &cred_dir)
        .env("STATE_DIRECTORY", world.root.join("state"))
        .env("LOGS_DIRECTORY", world.root.join("log"))
        .env("RUNTIME_DIRECTORY", world.root.join("state"));
    for (k, v) in unit.environment() {
        cmd.env(k, v);
    }
    let mut agent = Agent::spawn(&mut cmd, output).unwrap();

    world
        .wait(&mut agent, "READY=1", LIMIT, || count(&got, "READY=1") >= 1)
        .unwrap();
    // The password came through the credential: SvarInn (the fake) accepted
    // it and the forsendelser arrive.
    world.wait_published(&mut agent, &sys, &ids, LIMIT).unwrap();
    world.wait_acked(&mut agent, &ids, LIMIT).unwrap();
    // The watchdog: pings come at least every WatchdogSec/2 (the agent pings
    // at half the timeout, at most every 10 s). Three pings: two gaps.
    let ping_wait = watchdog.min(Duration::from_secs(20)) * 2 + LIMIT;
    world
        .wait(&mut agent, "three WATCHDOG=1", ping_wait, || {
            count(&got, "WATCHDOG=1") >= 3
        })
        .unwrap();
    let pings: Vec<Instant> = got
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, l)| l == "WATCHDOG=1")
        .map(|(t, _)| *t)
        .collect();
    for pair in pings.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap <= watchdog / 2 + Duration::from_secs(2),
            "watchdog pings {gap:?} apart with WatchdogSec={watchdog:?}: too close to being killed"
        );
    }
    assert!(
        lines(&got).iter().any(|l| l.starts_with("STATUS=")),
        "{:?}",
        lines(&got)
    );

    // UMask=: what the agent delivered is not readable by others.
    for id in &ids {
        for entry in std::fs::read_dir(sys.inn_of(id)).unwrap() {
            let mode = entry.unwrap().metadata().unwrap().mode();
            assert_eq!(
                mode & 0o007,
                0,
                "{id}: a file with mode {mode:o} under UMask={umask}"
            );
        }
    }

    let stopped_at = Instant::now();
    let status = agent.terminate(stop_timeout).unwrap();
    assert!(
        status.success(),
        "SIGTERM must end in exit 0 (Restart=on-failure would restart otherwise): {status}\n{}",
        agent.output_tail(30)
    );
    assert!(stopped_at.elapsed() < stop_timeout);
    mottak_tests::wait_until("STOPPING=1", Duration::from_secs(5), || {
        count(&got, "STOPPING=1") >= 1
    })
    .unwrap();
    stop.store(true, Ordering::SeqCst);
    listener.join().unwrap();
    assert_eq!(count(&got, "READY=1"), 1, "{:?}", lines(&got));

    // Under journald (JOURNAL_STREAM names stderr) lines carry no timestamp
    // of their own; the daily files in log_dir are still written.
    let text = agent.output_text();
    assert!(text.contains("ready"), "{text}");
    for line in text.lines() {
        let stamped = line.len() > 5
            && line[..4].bytes().all(|b| b.is_ascii_digit())
            && line.as_bytes()[4] == b'-';
        assert!(!stamped, "a timestamp on stderr under journald: {line}");
    }
    assert!(!world.log_dir_files().unwrap().is_empty());
}
