//! Atomic file output, the one writer every output goes through: the bytes go to a temporary
//! file in the target's folder, which is fsynced, renamed over the target, and the folder is
//! fsynced too, so a crash, a `kill -9` or a full disk never leaves a half-written plans file,
//! checkpoint or label map under its final name. On error the temporary file is removed.
//!
//! * [`write_with`], [`write_bytes`], [`write_json`], [`copy`]: writers that fill a [`Write`].
//! * [`write_via_path`]: writers that insist on a path (NIfTI, safetensors, plotters); the
//!   temporary name keeps the target's ending, since such writers pick the encoding from it.
//! * [`clean_stale_temps`]: removes the temporary files a killed process left behind; commands
//!   call it on their output folders so that a rerun starts clean.
//! * [`OutputGuard`]: for commands that write several files: on failure (drop without
//!   [`OutputGuard::commit`]) it removes what the command added to its output folder.

use crate::{Error, Result};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The marker in every temporary name: `.NAME~tmp-PID-N[ENDING]`, with the dots of NAME made
/// `_`. No dot before ENDING: writers that take a path and fix its extension themselves (the
/// `nifti` crate drops the last extension and adds its own) then keep the name as given.
const TEMP_MARKER: &str = "~tmp-";

/// A fresh temporary path beside `path`, ending in `ending` (same folder, so the rename is
/// atomic; unique within the process, and the pid tells which process owns it).
fn temp_path(path: &Path, ending: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().replace('.', "_"))
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(
        ".{name}{TEMP_MARKER}{}-{n}{ending}",
        std::process::id()
    ))
}

/// The pid in a temporary name made by [`temp_path`], or `None` for any other name.
fn temp_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, after) = rest.rsplit_once(TEMP_MARKER)?;
    let (pid, tail) = after.split_once('-')?;
    let counter_digits = tail.bytes().take_while(u8::is_ascii_digit).count();
    (counter_digits > 0 && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        .then(|| pid.parse().ok())
        .flatten()
}

/// Whether process `pid` still runs (Linux: `/proc/PID`; elsewhere only our own pid counts).
fn process_alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
}

fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// fsyncs a folder so that a rename in it survives a crash (a no-op where folders cannot be
/// opened for syncing).
fn sync_folder(folder: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(folder)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = folder;
        Ok(())
    }
}

/// Renames the finished `tmp` over `path` and fsyncs the folder; removes `tmp` on error.
fn commit(tmp: &Path, path: &Path) -> Result<()> {
    let result = std::fs::rename(tmp, path).and_then(|()| sync_folder(parent_of(path)));
    result.map_err(|e| {
        let _ = std::fs::remove_file(tmp);
        Error::io(path, e)
    })
}

fn create_parent(path: &Path) -> Result<()> {
    let parent = parent_of(path);
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))
}

/// Writes a file atomically by calling `write` on a buffered temporary file, then renaming it.
/// Parent folders are created. On error the temporary file is removed and `path` is untouched.
pub fn write_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    create_parent(path)?;
    let tmp = temp_path(path, "");
    let written = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut out = std::io::BufWriter::new(file);
        write(&mut out)?;
        out.flush()?;
        out.get_ref().sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    commit(&tmp, path)
}

/// Writes a file atomically through a writer that takes a path: `write` fills a temporary file
/// beside `path` whose name ends in `ending` (e.g. `.nii.gz`, `.png`), which is then fsynced and
/// renamed over `path`. On error the temporary file is removed and the message becomes an
/// error naming `path`.
pub fn write_via_path<E: std::fmt::Display>(
    path: &Path,
    ending: &str,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> Result<()> {
    create_parent(path)?;
    let tmp = temp_path(path, ending);
    if let Err(e) = write(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::invalid_file(path, e.to_string()));
    }
    if let Err(e) = std::fs::File::open(&tmp).and_then(|f| f.sync_all()) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    commit(&tmp, path)
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with(path, |out| out.write_all(bytes))
}

/// Copies `from` to `to` atomically (the copy appears whole or not at all).
pub fn copy(from: &Path, to: &Path) -> Result<()> {
    let bytes = std::fs::read(from).map_err(|e| Error::io(from, e))?;
    write_bytes(to, &bytes)
}

/// Writes `value` as pretty JSON (4-space indent, as nnU-Net writes its JSON files) atomically.
pub fn write_json<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    value.serialize(&mut ser).map_err(|e| Error::Json {
        path: path.to_path_buf(),
        source: e,
    })?;
    write_bytes(path, &buf)
}

/// Reads and parses a JSON file, naming the file in any error, and for a value of the wrong
/// type or range also the key it belongs to (`… expected usize at line 31 column 11 (in
/// "patch_size")`).
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&text).map_err(|e| {
        let message = e.to_string();
        let wrong_value = ["invalid type", "invalid value", "invalid length"]
            .iter()
            .any(|p| message.starts_with(p));
        match wrong_value.then(|| enclosing_key(&text, e.line(), e.column())) {
            Some(Some(key)) => {
                Error::invalid_file(path, format!("invalid JSON: {message} (in \"{key}\")"))
            }
            _ => Error::Json {
                path: path.to_path_buf(),
                source: e,
            },
        }
    })
}

/// The last object key (`"key":`) before `line`:`column` (1-based, as serde_json reports
/// them) of `text`.
fn enclosing_key(text: &[u8], line: usize, column: usize) -> Option<String> {
    let text = std::str::from_utf8(text).ok()?;
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let before = text.get(..(start + column).min(text.len()))?;
    let colon = before.rfind("\":").or_else(|| before.rfind("\" :"))?;
    let open = before[..colon].rfind('"')?;
    Some(before[open + 1..colon].to_string())
}

/// Removes the temporary files that processes no longer running left in `folder` (a
/// `kill -9` mid-write), returning how many. A missing folder has none.
pub fn clean_stale_temps(folder: &Path) -> Result<usize> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(folder, e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(folder, e))?;
        let name = entry.file_name();
        let Some(pid) = temp_owner(&name.to_string_lossy()) else {
            continue;
        };
        if process_alive(pid) || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        removed += 1;
    }
    Ok(removed)
}

/// What a multi-file command adds to its output folder, removed again unless the command
/// [`commit`](OutputGuard::commit)s: create it before writing, commit after the last file.
/// Entries that were there before are left alone (files rewritten in place were replaced
/// atomically, so they are whole either way); a folder the guard created is removed.
pub struct OutputGuard {
    folder: PathBuf,
    created: bool,
    before: BTreeSet<OsString>,
    committed: bool,
}

impl OutputGuard {
    /// Creates `folder` (and parents) if needed, notes what it holds, and cleans stale temps.
    pub fn create(folder: &Path) -> Result<Self> {
        let created = !folder.exists();
        std::fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
        clean_stale_temps(folder)?;
        let before = std::fs::read_dir(folder)
            .map_err(|e| Error::io(folder, e))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        Ok(OutputGuard {
            folder: folder.to_path_buf(),
            created,
            before,
            committed: false,
        })
    }

    /// The output folder.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Keeps everything written.
    pub fn commit(mut self) {
        self.committed = true;
    }
}

impl Drop for OutputGuard {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        if self.created {
            let _ = std::fs::remove_dir_all(&self.folder);
            return;
        }
        let Ok(entries) = std::fs::read_dir(&self.folder) else {
            return;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            if self.before.contains(&entry.file_name()) {
                continue;
            }
            let path = entry.path();
            let _ = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn read_json_names_the_key_of_a_wrongly_typed_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plans.json");
        std::fs::write(
            &path,
            "{\n    \"a\": 1,\n    \"patch_size\": [\n        \"x\"\n    ]\n}",
        )
        .unwrap();
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct P {
            a: usize,
            patch_size: Vec<usize>,
        }
        let message = read_json::<P>(&path).unwrap_err().to_string();
        assert!(message.contains("plans.json"), "{message}");
        assert!(message.contains("(in \"patch_size\")"), "{message}");
        // Syntax errors and missing keys keep serde's own message.
        std::fs::write(&path, "{\"a\": 1}").unwrap();
        let message = read_json::<P>(&path).unwrap_err().to_string();
        assert!(
            message.contains("missing field") && !message.contains("(in"),
            "{message}"
        );
    }

    #[test]
    fn failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plans.json");
        write_json(&path, &serde_json::json!({"a": 1})).unwrap();
        let err = write_with(&path, |_| Err(std::io::Error::other("disk full"))).unwrap_err();
        assert!(err.to_string().contains("plans.json"), "{err}");
        let back: serde_json::Value = read_json(&path).unwrap();
        assert_eq!(back, serde_json::json!({"a": 1}));
        assert_eq!(names(dir.path()), ["plans.json"], "temp file left behind");
    }

    #[test]
    fn path_writers_see_the_ending_and_failures_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("case.nii.gz");
        write_via_path(&path, ".nii.gz", |tmp| {
            assert!(tmp.to_string_lossy().ends_with(".nii.gz"));
            std::fs::write(tmp, b"data")
        })
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
        let err = write_via_path(&dir.path().join("b.png"), ".png", |tmp| {
            std::fs::write(tmp, b"half")?;
            Err(std::io::Error::other("encoder failed"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("b.png") && err.to_string().contains("encoder failed"));
        assert_eq!(names(dir.path()), ["case.nii.gz"]);
    }

    #[test]
    fn stale_temps_of_dead_processes_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        // pid 0 is never a user process; ours is alive and its temp is kept.
        std::fs::write(dir.path().join(".case_npz~tmp-0-3"), b"half").unwrap();
        std::fs::write(dir.path().join(".a_nii_gz~tmp-0-12.nii.gz"), b"half").unwrap();
        let ours = temp_path(&dir.path().join("b.json"), "");
        std::fs::write(&ours, b"busy").unwrap();
        std::fs::write(dir.path().join("case.npz"), b"whole").unwrap();
        std::fs::write(dir.path().join(".hidden"), b"user file").unwrap();
        assert_eq!(clean_stale_temps(dir.path()).unwrap(), 2);
        let mut expected = vec![
            ".hidden".to_string(),
            ours.file_name().unwrap().to_string_lossy().into_owned(),
            "case.npz".into(),
        ];
        expected.sort();
        assert_eq!(names(dir.path()), expected);
        assert_eq!(clean_stale_temps(&dir.path().join("absent")).unwrap(), 0);
    }

    #[test]
    fn an_uncommitted_guard_removes_what_was_added() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("old.txt"), b"kept").unwrap();
        {
            let guard = OutputGuard::create(dir.path()).unwrap();
            write_bytes(&guard.folder().join("new.txt"), b"x").unwrap();
            std::fs::create_dir(guard.folder().join("sub")).unwrap();
        }
        assert_eq!(names(dir.path()), ["old.txt"]);
        let fresh = dir.path().join("fresh");
        {
            let guard = OutputGuard::create(&fresh).unwrap();
            write_bytes(&guard.folder().join("new.txt"), b"x").unwrap();
        }
        assert!(!fresh.exists(), "a folder the guard created is removed");
        let guard = OutputGuard::create(&fresh).unwrap();
        write_bytes(&fresh.join("new.txt"), b"x").unwrap();
        guard.commit();
        assert_eq!(names(&fresh), ["new.txt"]);
    }
}
