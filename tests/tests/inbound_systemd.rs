//! systemd integration of `mottak-agent run`, as `Type=notify` with a
//! watchdog sees it: `READY=1`, `STATUS=` with the queue, repeated
//! `WATCHDOG=1`, and on SIGTERM `STOPPING=1` and exit 0 after a clean drain,
//! after which a restart finishes the work exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::net::UnixDatagram;
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
