//! Files only the service user may read: the state dir is 0700 and everything in it 0600, whatever
//! the umask. The process umask is never changed (CC inherits it and would create 0600 files in the
//! user's work dir); modes are given at creation and forced with chmod on files that already exist.
use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) and makes `dir` itself 0700. Parents keep their mode: they
/// may be the user's own (`~/.local/state`).
pub fn dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)?;
    std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))
}

/// Opens (creating, never truncating) a 0600 file for reading and writing.
pub fn open(path: &Path) -> std::io::Result<File> {
    let f = OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(FILE_MODE).open(path)?;
    f.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(f)
}

/// Replaces the content of `path` with `data`; the file is 0600.
pub fn write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = open(path)?;
    f.set_len(0)?;
    f.write_all(data)
}

/// Makes an existing file 0600 (a missing one is fine).
pub fn restrict(path: &Path) -> std::io::Result<()> {
    match std::fs::set_permissions(path, Permissions::from_mode(FILE_MODE)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn modes_are_forced_on_new_and_existing_entries() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("a/b");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, Permissions::from_mode(0o755)).unwrap();
        dir(&d).unwrap();
        assert_eq!(mode(&d), 0o700);
        let f = d.join("f");
        std::fs::write(&f, "old content").unwrap();
        std::fs::set_permissions(&f, Permissions::from_mode(0o644)).unwrap();
        write(&f, b"new").unwrap();
        assert_eq!((mode(&f), std::fs::read_to_string(&f).unwrap().as_str()), (0o600, "new"));
        let g = d.join("g");
        write(&g, b"x").unwrap();
        assert_eq!(mode(&g), 0o600);
        restrict(&d.join("missing")).unwrap();
    }
}
