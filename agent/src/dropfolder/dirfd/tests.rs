use super::*;
use std::os::unix::fs::symlink;
use std::time::Instant;

fn n(s: &str) -> Name {
    Name::new(s).unwrap()
}

fn root() -> (tempfile::TempDir, Dir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = Dir::open_root(tmp.path(), Arc::new(RealFs)).unwrap();
    (tmp, dir)
}

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        FileType::Fifo,
        Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
}

/// Outside the folder: what a hostile link points at.
fn secret() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("agent.key");
    std::fs::write(&path, b"-----BEGIN PRIVATE KEY----- secret").unwrap();
    (tmp, path)
}

#[test]
fn names_are_single_components() {
    for bad in ["", ".", "..", "a/b", "/etc", "a\0b"] {
        let err = Name::new(bad).unwrap_err();
        assert!(matches!(err, DirError::BadName { .. }), "{bad:?}: {err}");
    }
    assert!(Name::new("x".repeat(256)).is_err());
    assert!(Name::new("x".repeat(255)).is_ok());
    let raw = OsStr::from_bytes(b"ikke-utf8-\xff");
    let name = Name::new(raw).unwrap();
    assert_eq!(name.as_bytes(), b"ikke-utf8-\xff");
    assert_eq!(name.to_str(), None);
    assert!(n("FEIL.TXT").eq_ignore_case("feil.txt"));
    const FIXED: Name = Name::fixed("inn");
    assert_eq!(FIXED.to_str(), Some("inn"));
}

#[test]
fn a_symlink_is_never_followed_whatever_the_operation() {
    let (_outside, key) = secret();
    let (tmp, dir) = root();
    symlink(&key, tmp.path().join("feil.txt")).unwrap();
    symlink(key.parent().unwrap(), tmp.path().join("mappe")).unwrap();

    let err = dir.read_file(&n("feil.txt"), 1 << 20).unwrap_err();
    assert!(matches!(err, DirError::SymbolicLink { .. }), "{err}");
    assert_eq!(err.refused_kind(), Some("a symbolic link"));
    assert!(err.to_string().starts_with("refused: "), "{err}");
    assert!(
        err.to_string().contains("feil.txt is a symbolic link"),
        "{err}"
    );
    assert!(dir.open_file(&n("feil.txt")).is_err());
    let err = dir.open_dir(&n("mappe")).unwrap_err();
    assert!(matches!(err, DirError::SymbolicLink { .. }), "{err}");

    // Creating over a link fails, even a dangling one (nothing is created
    // at its target).
    let err = dir.create_file(&n("feil.txt"), 0o600).unwrap_err();
    assert!(err.is_already_exists(), "{err}");
    symlink(tmp.path().join("nowhere"), tmp.path().join("dangling")).unwrap();
    assert!(dir.create_file(&n("dangling"), 0o600).is_err());
    assert!(!tmp.path().join("nowhere").exists());

    // Writing atomically replaces the link itself.
    dir.write_atomic(&n("feil.txt"), b"ny grunn", 0o644, Replace::Allow)
        .unwrap();
    assert_eq!(
        std::fs::read(&key).unwrap(),
        b"-----BEGIN PRIVATE KEY----- secret"
    );
    assert_eq!(
        std::fs::read(tmp.path().join("feil.txt")).unwrap(),
        b"ny grunn"
    );

    // A tree with a link to a folder outside is removed, the outside kept.
    let sub = dir.create_dir(&n("tre"), 0o700).unwrap();
    sub.create_dir(&n("dypere"), 0o700).unwrap();
    symlink(key.parent().unwrap(), tmp.path().join("tre/dypere/ut")).unwrap();
    std::fs::write(tmp.path().join("tre/fil"), b"x").unwrap();
    assert!(dir.remove_tree(&n("tre")).unwrap());
    assert!(!tmp.path().join("tre").exists());
    assert!(key.exists());
    assert!(!dir.remove_tree(&n("tre")).unwrap());
}

#[test]
fn a_fifo_never_blocks_and_is_refused() {
    let (tmp, dir) = root();
    mkfifo(&tmp.path().join("feil.txt"));
    let started = Instant::now();
    let err = dir.read_file(&n("feil.txt"), 100).unwrap_err();
    assert!(matches!(err, DirError::Fifo { .. }), "{err}");
    assert!(dir.open_file(&n("feil.txt")).is_err());
    let err = dir.open_dir(&n("feil.txt")).unwrap_err();
    assert!(matches!(err, DirError::Fifo { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(1));
    // It can still be moved and removed (as an entry, unopened).
    let sub = dir.create_dir(&n("b"), 0o700).unwrap();
    dir.rename(&n("feil.txt"), &sub, &n("feil.txt"), Replace::Never)
        .unwrap();
    sub.remove_file(&n("feil.txt")).unwrap();
}

#[test]
fn folders_sockets_and_files_in_the_wrong_place_are_refused() {
    let (tmp, dir) = root();
    std::fs::create_dir(tmp.path().join("feil.txt")).unwrap();
    let err = dir.read_file(&n("feil.txt"), 100).unwrap_err();
    assert!(
        matches!(
            err,
            DirError::NotRegularFile {
                found: Kind::Dir,
                ..
            }
        ),
        "{err}"
    );
    std::fs::write(tmp.path().join("fil"), b"x").unwrap();
    let err = dir.open_dir(&n("fil")).unwrap_err();
    assert!(
        matches!(
            err,
            DirError::NotADirectory {
                found: Kind::File,
                ..
            }
        ),
        "{err}"
    );
    let _socket = std::os::unix::net::UnixListener::bind(tmp.path().join("sokkel")).unwrap();
    let err = dir.read_file(&n("sokkel"), 100).unwrap_err();
    assert!(
        matches!(
            err,
            DirError::NotRegularFile {
                found: Kind::Socket,
                ..
            }
        ),
        "{err}"
    );
    let err = dir.read_file(&n("mangler"), 100).unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[test]
fn reads_are_bounded() {
    let (tmp, dir) = root();
    std::fs::write(tmp.path().join("stor"), vec![b'x'; 5000]).unwrap();
    let err = dir.read_file(&n("stor"), 4096).unwrap_err();
    assert!(matches!(err, DirError::TooLarge { max: 4096, .. }), "{err}");
    let (bytes, complete) = dir.read_prefix(&n("stor"), 4096).unwrap();
    assert_eq!((bytes.len(), complete), (4096, false));
    let (bytes, complete) = dir.read_prefix(&n("stor"), 5000).unwrap();
    assert_eq!((bytes.len(), complete), (5000, true));
    assert_eq!(dir.read_file(&n("stor"), 5000).unwrap().len(), 5000);
}

#[test]
fn listing_gives_raw_names_and_lstat_kinds() {
    let (_outside, key) = secret();
    let (tmp, dir) = root();
    std::fs::create_dir(tmp.path().join("mappe")).unwrap();
    std::fs::write(tmp.path().join("fil"), b"abc").unwrap();
    symlink(&key, tmp.path().join("lenke")).unwrap();
    mkfifo(&tmp.path().join("fifo"));
    let odd = OsStr::from_bytes(b"ikke-utf8-\xff");
    std::fs::create_dir(tmp.path().join(odd)).unwrap();
    let mut found: Vec<(Vec<u8>, Kind)> = dir
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| (e.name.as_bytes().to_vec(), e.meta.kind))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        found,
        vec![
            (b"fifo".to_vec(), Kind::Fifo),
            (b"fil".to_vec(), Kind::File),
            (b"ikke-utf8-\xff".to_vec(), Kind::Dir),
            (b"lenke".to_vec(), Kind::Symlink),
            (b"mappe".to_vec(), Kind::Dir),
        ]
    );
    // A non-UTF-8 name is usable as it is.
    let name = Name::new(odd).unwrap();
    let sub = dir.open_dir(&name).unwrap();
    assert!(sub.path().ends_with(odd));
    dir.rename(&name, &dir, &n("reparert"), Replace::Never)
        .unwrap();
    assert!(tmp.path().join("reparert").is_dir());
}

#[test]
fn renames_between_handles_and_no_replace() {
    let (tmp, dir) = root();
    let a = dir.create_dir(&n("a"), 0o700).unwrap();
    let b = dir.create_dir(&n("b"), 0o700).unwrap();
    std::fs::write(tmp.path().join("a/x"), b"1").unwrap();
    std::fs::write(tmp.path().join("b/x"), b"2").unwrap();
    let err = a.rename(&n("x"), &b, &n("x"), Replace::Never).unwrap_err();
    assert!(err.is_already_exists(), "{err}");
    assert_eq!(std::fs::read(tmp.path().join("b/x")).unwrap(), b"2");
    a.rename(&n("x"), &b, &n("x"), Replace::Allow).unwrap();
    assert_eq!(std::fs::read(tmp.path().join("b/x")).unwrap(), b"1");
    // Write-then-rename that may not replace.
    let err = b
        .write_atomic(&n("x"), b"3", 0o600, Replace::Never)
        .unwrap_err();
    assert!(err.is_already_exists(), "{err}");
    assert_eq!(std::fs::read(tmp.path().join("b/x")).unwrap(), b"1");
    let left: Vec<_> = b.entries().unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(left, vec![n("x")], "no temporary file left");
    // Create exclusively, then sync it and the folder.
    let mut f = b.create_file(&n("y"), 0o640).unwrap();
    f.write_all(b"yy").unwrap();
    b.sync_file(&n("y")).unwrap();
    b.sync().unwrap();
    assert!(
        b.create_file(&n("y"), 0o640)
            .unwrap_err()
            .is_already_exists()
    );
    let space = dir.space().unwrap();
    assert!(space.total_bytes > 0 && !space.read_only);
    dir.check_writable().unwrap();
}

/// Renames and fsyncs go through the [`FsOps`] the root was opened with,
/// in every folder opened from it.
#[test]
fn fault_injection_reaches_every_folder() {
    struct Broken;
    impl FsOps for Broken {
        fn rename(&self, _: &Dir, _: &Name, to: &Dir, _: &Name, _: Replace) -> io::Result<()> {
            Err(io::Error::other(format!(
                "injected rename into {}",
                to.path().display()
            )))
        }
        fn sync_file(&self, _: &File, _: &Path) -> io::Result<()> {
            Err(io::Error::other("injected file fsync"))
        }
        fn sync_dir(&self, _: &Dir) -> io::Result<()> {
            Err(io::Error::other("injected fsync"))
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = Dir::open_root(tmp.path(), Arc::new(Broken)).unwrap();
    let a = dir.create_dir(&n("a"), 0o700).unwrap();
    a.create_file(&n("x"), 0o600).unwrap();
    let err = a
        .rename(&n("x"), &dir, &n("x"), Replace::Allow)
        .unwrap_err();
    assert!(err.to_string().contains("injected rename"), "{err}");
    assert!(a.sync().unwrap_err().to_string().contains("injected fsync"));
    assert!(a.sync_file(&n("x")).is_err());
    assert!(a.write_atomic(&n("y"), b"", 0o600, Replace::Allow).is_err());
    assert!(tmp.path().join("a/x").exists());
}
