//! Checks the fake runs at kvittering time (was the forsendelse really published
//! or imported when the agent acknowledged it?) and the plaintexts they check.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use mottak_fixtures::svarinn::KvitteringCall;

use super::{Installed, World, read_delivered, sha256_hex};

/// Problems seen by a check run inside the fake (at kvittering time).
pub type Violations = Arc<Mutex<Vec<String>>>;

/// A small PDF-looking plaintext, distinct per `n`.
pub fn small_pdf(n: usize, len: usize) -> Vec<u8> {
    let mut v = format!("%PDF-1.4\n% forsendelse {n}\n").into_bytes();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (n as u64);
    while v.len() + 6 < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(b'a' + u8::try_from(x % 26).unwrap_or(0));
    }
    v.extend_from_slice(b"\n%%EOF");
    v
}

/// Installs a check the fake runs when it accepts a kvittering for one of
/// `system`'s forsendelser:
/// - `published = true` (on-delivery): `inn/<id>/` holds `forsendelse.json`
///   and files whose sha256 are exactly those SvarInn declared in `filmetadata`
///   (so: with `unzip = true` for zips);
/// - `published = false` (on-import): the folder has left `inn/` and is not in
///   `feilet/` (the fagsystem imported it).
///
/// Install it after adding the forsendelser: their declared sha256 are read
/// now. A kvittering of a forsendelse added later is a violation. A repeated
/// kvittering (`first = false`) is checked the same way. Returns the
/// violations seen; a test asserts it is empty at the end.
pub fn check_at_kvittering(world: &World, system: &Installed, published: bool) -> Violations {
    let violations: Violations = Arc::default();
    let v = Arc::clone(&violations);
    let check = kvittering_check(world, system, published);
    world.fake.on_kvittering(move |call| {
        if let Some(p) = check(call) {
            v.lock().unwrap_or_else(|e| e.into_inner()).push(p);
        }
    });
    violations
}

/// The check of [`check_at_kvittering`] as a function, for a test that
/// installs its own hook: `Some(problem)` when the kvittering came too early.
pub fn kvittering_check(
    world: &World,
    system: &Installed,
    published: bool,
) -> impl Fn(&KvitteringCall) -> Option<String> + Send + Sync + 'static {
    let sys = system.clone();
    let declared: BTreeMap<String, Vec<String>> = world
        .fake
        .waiting_ids(&system.spec.username)
        .into_iter()
        .filter_map(|id| {
            let f = world.fake.forsendelse(&id)?;
            Some((
                id,
                f.filmetadata.into_iter().map(|m| m.sha256hash).collect(),
            ))
        })
        .collect();
    move |call: &KvitteringCall| {
        if call.mottakersystem != sys.spec.username {
            return None;
        }
        let id = &call.forsendelse;
        let problem = if published {
            match declared.get(id) {
                Some(want) => check_published(&sys, id, want).err(),
                None => Some(format!("{id}: not known when the check was installed")),
            }
        } else if sys.inn_of(id).exists() {
            Some(format!("{id} acknowledged while still in inn/"))
        } else if sys.feilet().join(id).exists() {
            Some(format!(
                "{id} acknowledged although the fagsystem rejected it (feilet/)"
            ))
        } else {
            None
        };
        problem.map(|p| format!("kvittering (first={}) of {p}", call.first))
    }
}

/// `inn/<id>/` is whole: `forsendelse.json` naming `id`, and files whose
/// sha256 are exactly `want` (as a multiset).
pub fn check_published(
    sys: &Installed,
    id: &str,
    want: &[String],
) -> std::result::Result<(), String> {
    let folder = sys.inn_of(id);
    let d = read_delivered(&folder).map_err(|e| format!("{id}: not published: {e:#}"))?;
    if d.json.get("id").and_then(|v| v.as_str()) != Some(id) {
        return Err(format!(
            "{id}: forsendelse.json names another id: {}",
            d.json
        ));
    }
    let mut got: Vec<String> = d.files.values().map(|b| sha256_hex(b)).collect();
    got.sort();
    let mut want = want.to_vec();
    want.sort();
    if got != want {
        return Err(format!(
            "{id}: files {:?} have sha256 {got:?}, SvarInn declared {want:?}",
            d.files.keys().collect::<Vec<_>>()
        ));
    }
    Ok(())
}
