//! File-change notifications (inotify via `notify`) for CC's status files and transcripts. The
//! callback only forwards paths; the manager decides what they mean.
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

pub struct FileWatcher {
    watcher: RecommendedWatcher,
    watched: HashSet<PathBuf>,
}

impl FileWatcher {
    /// Returns the watcher and the stream of changed paths.
    pub fn new() -> notify::Result<(FileWatcher, mpsc::UnboundedReceiver<PathBuf>)> {
        let (tx, rx) = mpsc::unbounded_channel();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res {
                if matches!(ev.kind, notify::EventKind::Create(_) | notify::EventKind::Modify(_)) {
                    for p in ev.paths {
                        let _ = tx.send(p);
                    }
                }
            }
        })?;
        Ok((FileWatcher { watcher, watched: HashSet::new() }, rx))
    }

    /// Watches a directory (non-recursively). Creates it when missing so a watch exists before CC writes.
    pub fn watch_dir(&mut self, dir: &Path) {
        if self.watched.contains(dir) {
            return;
        }
        let _ = std::fs::create_dir_all(dir);
        if self.watcher.watch(dir, RecursiveMode::NonRecursive).is_ok() {
            self.watched.insert(dir.to_path_buf());
        }
    }
}
