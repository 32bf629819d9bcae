//! A rejected forsendelse whose folder is back in `inn/` while the journal
//! still says `rejected` (the console's `move_to_inn` moves the folder first
//! and journals after; a crash in between leaves exactly this, and so does a
//! person moving the folder back by hand): the agent repairs it, on a turn of
//! its loop and at startup. The folder in `inn/` wins: the row is `delivered`
//! again, waits for the fagsystem, and is acknowledged once it is imported.
//! Nothing is downloaded or published twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::time::Duration;

use mottak_fixtures::svarinn::{NewForsendelse, Plaintext};
use mottak_tests::harness::{
    Ack, Installed, System, World, download_starts, import, kvitteringer_of, reject, small_pdf,
};

const LIMIT: Duration = Duration::from_secs(90);

/// What `move_to_inn` does to the folder (feil.txt removed, renamed back),
/// without its journal step.
fn move_back_by_hand(sys: &Installed, id: &str) {
    let from = sys.feilet().join(id);
    let feil = from.join("feil.txt");
    if feil.exists() {
        fs::remove_file(feil).unwrap();
    }
    fs::rename(&from, sys.inn_of(id)).unwrap();
}

#[test]
fn a_folder_back_in_inn_wins_over_rejected() {
    let world = World::single(System::new("rep").ack(Ack::OnImport)).unwrap();
    let sys = world.first().unwrap().clone();
    let user = sys.spec.username.clone();
    let mut ids = Vec::new();
    for n in 0..2 {
        let id = world
            .block_on(world.fake.add_forsendelse(NewForsendelse::pdf(
                &user,
                format!("brev-{n}.pdf"),
                Plaintext::Bytes(small_pdf(n, 4000)),
            )))
            .unwrap();
        ids.push(id);
    }
    let (on_turn, at_start) = (ids[0].clone(), ids[1].clone());

    let mut agent = world.spawn_agent().unwrap();
    world.wait_published(&mut agent, &sys, &ids, LIMIT).unwrap();
    world
        .wait_state(&mut agent, &ids, "delivered", LIMIT)
        .unwrap();
    for id in &ids {
        reject(&sys, id, Some("kunne ikke lese vedlegget")).unwrap();
    }
    world
        .wait_state(&mut agent, &ids, "rejected", LIMIT)
        .unwrap();

    // On a turn of the running agent's loop.
    move_back_by_hand(&sys, &on_turn);
    world
        .wait_state(
            &mut agent,
            std::slice::from_ref(&on_turn),
            "delivered",
            LIMIT,
        )
        .unwrap();
    assert!(
        agent.output_text().contains("back in inn/"),
        "the repair is logged"
    );

    // The crash window itself: the agent is killed, the folder is moved
    // back while it is down, and the journal still says rejected at startup.
    agent.kill().unwrap();
    move_back_by_hand(&sys, &at_start);
    assert_eq!(
        world.state_of(&at_start).as_deref(),
        Some("rejected"),
        "the journal was not told"
    );
    let mut agent = world.spawn_agent().unwrap();
    world
        .wait_state(
            &mut agent,
            std::slice::from_ref(&at_start),
            "delivered",
            LIMIT,
        )
        .unwrap();

    // Both wait for the fagsystem again, and are acknowledged once it imports them.
    let events = world.fake.events();
    for id in &ids {
        assert!(
            kvitteringer_of(&events, id).is_empty(),
            "{id} not acknowledged yet"
        );
        assert!(sys.inn_of(id).is_dir(), "{id} is in inn/");
        import(&sys, id).unwrap();
    }
    world.wait_acked(&mut agent, &ids, LIMIT).unwrap();
    world.wait_state(&mut agent, &ids, "acked", LIMIT).unwrap();
    let events = world.fake.events();
    for id in &ids {
        assert_eq!(
            kvitteringer_of(&events, id).len(),
            1,
            "{id} acknowledged once"
        );
        assert_eq!(download_starts(&events, id), 1, "{id} downloaded once");
    }
    agent.terminate(LIMIT).unwrap();
}
