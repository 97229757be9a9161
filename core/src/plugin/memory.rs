//! Checked reads of a plugin's static data. A plugin file's header is untrusted input: its
//! pointers are checked against the process's memory map (`/proc/self/maps`) — they must lie in
//! readable (or, for code, executable) mappings of that very file — before anything is read
//! through them, so a forged or truncated header is refused instead of crashing the host.

use std::path::Path;

struct Mapping {
    start: usize,
    end: usize,
    readable: bool,
    executable: bool,
}

/// The mappings of one file in this process.
pub(crate) struct FileMappings(Vec<Mapping>);

impl FileMappings {
    /// The mappings of `file` (a canonical path) as the kernel lists them now.
    pub fn of(file: &Path) -> std::io::Result<Self> {
        let maps = std::fs::read_to_string("/proc/self/maps")?;
        let file = file.to_string_lossy();
        let mut mappings: Vec<Mapping> = maps.lines().filter_map(|l| parse(l, &file)).collect();
        mappings.sort_by_key(|m| m.start);
        Ok(FileMappings(mappings))
    }

    /// One mapping over `bytes`, readable and counted as code: what the header check sees when
    /// a header and everything it points at lie in that buffer (the fuzz target's view).
    pub fn over(bytes: &'static [u8]) -> Self {
        let start = bytes.as_ptr() as usize;
        FileMappings(vec![Mapping {
            start,
            end: start + bytes.len(),
            readable: true,
            executable: true,
        }])
    }

    /// True when `[addr, addr + len)` is readable and inside this file's mappings.
    pub fn readable(&self, addr: usize, len: usize) -> bool {
        let Some(end) = addr.checked_add(len) else {
            return false;
        };
        let mut at = addr;
        while at < end {
            match self
                .0
                .iter()
                .find(|m| m.readable && m.start <= at && at < m.end)
            {
                Some(m) => at = m.end,
                None => return false,
            }
        }
        true
    }

    /// True when `addr` is in an executable mapping of this file.
    pub fn executable(&self, addr: usize) -> bool {
        self.0
            .iter()
            .any(|m| m.executable && m.start <= addr && addr < m.end)
    }

    /// The `len` bytes at `addr`, if [`Self::readable`].
    pub fn read(&self, addr: usize, len: usize) -> Option<&'static [u8]> {
        if addr == 0 || !self.readable(addr, len) {
            return None;
        }
        // SAFETY: checked above: mapped, readable, and part of a library that is never closed.
        Some(unsafe { std::slice::from_raw_parts(addr as *const u8, len) })
    }
}

/// One line of `/proc/self/maps` (`start-end perms offset dev inode path`), if it maps `file`.
fn parse(line: &str, file: &str) -> Option<Mapping> {
    let mut fields = line.splitn(6, ' ');
    let range = fields.next()?;
    let perms = fields.next()?;
    let path = fields.nth(3)?.trim_start();
    if path != file {
        return None;
    }
    let (start, end) = range.split_once('-')?;
    Some(Mapping {
        start: usize::from_str_radix(start, 16).ok()?,
        end: usize::from_str_radix(end, 16).ok()?,
        readable: perms.starts_with('r'),
        executable: perms.as_bytes().get(2) == Some(&b'x'),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_other_files_and_bad_lines_are_skipped() {
        let line = "7f0000001000-7f0000003000 r-xp 00001000 08:01 42  /x/libp.so";
        let m = parse(line, "/x/libp.so").unwrap();
        assert_eq!(
            (m.start, m.end, m.readable, m.executable),
            (0x7f0000001000, 0x7f0000003000, true, true)
        );
        assert!(parse(line, "/x/other.so").is_none());
        assert!(parse("garbage", "/x/libp.so").is_none());
        let maps = FileMappings(vec![m]);
        assert!(maps.readable(0x7f0000001000, 0x2000));
        assert!(!maps.readable(0x7f0000001000, 0x2001));
        assert!(!maps.readable(usize::MAX, 2));
        assert!(maps.read(0, 0).is_none());
    }
}
