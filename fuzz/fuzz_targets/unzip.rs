//! Fuzzes the zip reader: whatever zip SvarInn's sender made, `extract` returns
//! (the files or an error), never panics, and writes only inside the folder it
//! was given (each input gets a fresh one; nothing else appears in the root).

#![no_main]

use std::io::Cursor;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use mottak_agent::dropfolder::dirfd::{Dir, Name, RealFs};
use mottak_agent::unzip::{ZipLimits, extract};

/// Small limits, so a bomb costs a few MiB and not the fuzzer's time.
const LIMITS: ZipLimits = ZipLimits {
    max_entries: 64,
    max_total_bytes: 4 << 20,
    max_ratio: 100,
};

fn root() -> &'static (tempfile::TempDir, Dir, Name) {
    static ROOT: OnceLock<(tempfile::TempDir, Dir, Name)> = OnceLock::new();
    ROOT.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("a temporary folder");
        let dir = Dir::open_root(tmp.path(), Arc::new(RealFs)).expect("open it");
        let name = Name::new("staging").expect("a name");
        (tmp, dir, name)
    })
}

fuzz_target!(|data: &[u8]| {
    let (tmp, root, name) = root();
    let dest = root.create_dir(name, 0o700).expect("a fresh staging folder");
    let _ = extract(Cursor::new(data), &dest, &LIMITS);
    drop(dest);
    root.remove_tree(name).expect("remove the staging folder");
    let left = std::fs::read_dir(tmp.path()).expect("list the root").count();
    assert_eq!(left, 0, "extract wrote beside its folder");
});
