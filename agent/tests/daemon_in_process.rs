//! The agent run in the test's own process (`commands::run::Daemon`, as mini-redis runs its
//! server): it starts, carries forsendelser through, and drains when its shutdown token is
//! cancelled; a console API that cannot start stops the pipelines already started and says
//! why. Its pipelines' loop turns are what a test waits on.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod console_api_support;

use std::time::Duration;

use console_api_support::{Env, Options, count};
use mottak_agent::commands::run::Daemon;
use mottak_agent::systemd::Notifier;
use mottak_protocol::console::ForsendelseState;

const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_process_agent_delivers_turns_and_drains_at_shutdown() {
    let env = Env::new(Options::default()).await;
    env.access(&["grant", "--user", "root", "--role", "viewer", "--all"]);
    let ids = env.fake().generate(3, 1500).await.unwrap();
    let agent = env.start_in_process().await;
    let inbound = agent.health("ms-a", "inbound");
    let mut c = env.subscribed().await;
    c.wait_until("all three acknowledged", LIMIT, |s| {
        count(s, "ms-a", ForsendelseState::Acked) == 3
    })
    .await;
    assert!(inbound.is_running());
    let before = inbound.turns();
    agent.wait_turns("ms-a", "inbound", 2).await;
    assert!(inbound.turns() >= before + 2);
    for id in &ids {
        assert!(env.sys("ms-a").inn().join(id).is_dir(), "{id} in inn/");
    }
    drop(c);
    agent.stop().await.unwrap();
    assert!(
        !inbound.is_running(),
        "the pipeline's run ended with the drain"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_api_that_cannot_start_stops_the_agent_with_the_reason() {
    let env = Env::new(Options::default()).await;
    // The console socket's folder is a file: the socket cannot be bound.
    let blocked = env.path().join("blocked");
    std::fs::write(&blocked, b"not a folder").unwrap();
    let text = std::fs::read_to_string(&env.config).unwrap().replace(
        &format!("console_socket = \"{}\"", env.socket.display()),
        &format!("console_socket = \"{}/console.sock\"", blocked.display()),
    );
    assert!(text.contains("blocked/console.sock"), "{text}");
    let config_path = env.path().join("blocked.toml");
    std::fs::write(&config_path, text).unwrap();
    let config = mottak_agent::config::load(&config_path).unwrap();
    let started = tokio::time::timeout(LIMIT, Daemon::start(config, Notifier::disabled()))
        .await
        .expect("a failed start returns, it does not hang on its pipelines");
    let err = format!("{:#}", started.err().expect("the start fails"));
    assert!(err.contains("cannot start the console API"), "{err}");
}
