//! Counting folders in the demo's drop folders and archives, for the status lines.

use std::path::{Path, PathBuf};

/// Folders in `dir` that hold a file `name` (0 when `dir` does not exist).
pub fn folders_with(dir: &Path, name: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().join(name).is_file())
                .count()
        })
        .unwrap_or(0)
}

/// Visible folders in `dir` (0 when it does not exist).
pub fn folders_in(dir: &PathBuf) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| {
                    !e.file_name().to_string_lossy().starts_with('.')
                        && e.file_type().is_ok_and(|t| t.is_dir())
                })
                .count()
        })
        .unwrap_or(0)
}
