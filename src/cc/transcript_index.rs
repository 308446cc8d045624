//! Paging over a transcript without reading the whole file: an incremental index of byte offsets.
//!
//! Entry indexes (the GetTranscript cursor) count the entries `parse_record` yields, line after line.
//! The index keeps one mark — (first entry index of a line, byte offset of that line) — every
//! `STRIDE` entries, so a page seeks to the mark at or before its cursor and parses at most `STRIDE`
//! entries (plus the entry-less lines between them) before the first it returns. One mark per 64
//! entries costs 16 bytes per 64 entries (≈100 KB for a 200 MB transcript) instead of 16 bytes per
//! record, and the skipped prefix stays small next to a page (≤ 1000 entries). When the file grew,
//! the index is extended from the last indexed offset; only complete lines (ending in `\n`) are
//! indexed, so a record CC is still writing is picked up by the next call.
use super::transcript::{parse_record, TranscriptEntry};
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Entries between two marks.
pub const STRIDE: u64 = 64;

/// Bounds of one page.
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    /// Entries returned.
    pub max_entries: usize,
    /// Approximate bytes of entry text returned (the first entry is always returned).
    pub max_bytes: usize,
    /// Entries examined (filtered reads stop here and report where they stopped).
    pub max_scanned: usize,
}

impl Default for PageLimits {
    fn default() -> Self {
        PageLimits { max_entries: 200, max_bytes: 4 << 20, max_scanned: 20_000 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// (entry index, entry), in transcript order.
    pub entries: Vec<(u64, TranscriptEntry)>,
    /// The entry index to continue from.
    pub next_cursor: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TranscriptIndex {
    /// (first entry index of a line, byte offset of the line), ascending; one per `STRIDE` entries.
    marks: Vec<(u64, u64)>,
    /// Bytes indexed so far (a line boundary) and the entries in them.
    indexed_bytes: u64,
    entries: u64,
}

/// Reads one line (up to and including `\n`) into `buf`; false at EOF or on a partial last line.
fn complete_line<R: BufRead>(r: &mut R, buf: &mut Vec<u8>) -> io::Result<bool> {
    buf.clear();
    r.read_until(b'\n', buf)?;
    Ok(buf.last() == Some(&b'\n'))
}

fn entries_of(line: &[u8]) -> Vec<TranscriptEntry> {
    parse_record(&String::from_utf8_lossy(line)).map(|r| r.entries).unwrap_or_default()
}

fn text_size(e: &TranscriptEntry) -> usize {
    e.text.len() + e.tool_input.as_ref().map_or(0, |v| v.to_string().len()) + 256
}

impl TranscriptIndex {
    /// Entries indexed so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Bytes indexed so far.
    pub fn indexed_bytes(&self) -> u64 {
        self.indexed_bytes
    }

    /// Marks held (the memory the index costs is 16 bytes each).
    pub fn marks(&self) -> usize {
        self.marks.len()
    }

    /// Indexes the complete lines after the indexed part. `len` is the file's current length: a file
    /// shorter than what was indexed was replaced or truncated, and is indexed again from the start.
    pub fn extend<R: Read + Seek>(&mut self, r: &mut R, len: u64) -> io::Result<()> {
        if len < self.indexed_bytes {
            *self = TranscriptIndex::default();
        }
        if len == self.indexed_bytes {
            return Ok(());
        }
        r.seek(SeekFrom::Start(self.indexed_bytes))?;
        let mut reader = BufReader::with_capacity(256 << 10, r.take(len - self.indexed_bytes));
        let mut line = Vec::new();
        while complete_line(&mut reader, &mut line)? {
            let n = entries_of(&line).len() as u64;
            let next_mark = self.marks.last().map_or(0, |m| m.0 + STRIDE);
            if n > 0 && self.entries + n > next_mark {
                self.marks.push((self.entries, self.indexed_bytes));
            }
            self.entries += n;
            self.indexed_bytes += line.len() as u64;
        }
        Ok(())
    }

    /// The page from entry `cursor` of the indexed part: entries that `keep` accepts, within `limits`.
    pub fn page<R: Read + Seek>(
        &self,
        r: &mut R,
        cursor: u64,
        limits: PageLimits,
        keep: impl Fn(&TranscriptEntry) -> bool,
    ) -> io::Result<Page> {
        let mut page = Page { entries: Vec::new(), next_cursor: cursor };
        if cursor >= self.entries {
            return Ok(page);
        }
        let at = self.marks.partition_point(|m| m.0 <= cursor);
        let (mut index, offset) = self.marks[at.saturating_sub(1)];
        r.seek(SeekFrom::Start(offset))?;
        let mut reader = BufReader::with_capacity(64 << 10, r.take(self.indexed_bytes - offset));
        let (mut line, mut scanned, mut bytes) = (Vec::new(), 0usize, 0usize);
        'lines: while complete_line(&mut reader, &mut line)? {
            for e in entries_of(&line) {
                if index < cursor {
                    index += 1;
                    continue;
                }
                let full = page.entries.len() >= limits.max_entries
                    || (!page.entries.is_empty() && bytes + text_size(&e) > limits.max_bytes)
                    || scanned >= limits.max_scanned;
                if full {
                    break 'lines;
                }
                scanned += 1;
                if keep(&e) {
                    bytes += text_size(&e);
                    page.entries.push((index, e));
                }
                index += 1;
                page.next_cursor = index;
            }
        }
        Ok(page)
    }
}

/// Identity of a file (device, inode): a transcript replaced under the same path is indexed anew.
#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}
#[cfg(not(unix))]
fn identity(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

type Slot = Arc<Mutex<Cached>>;

struct Cached {
    identity: (u64, u64),
    index: TranscriptIndex,
    used: u64,
}

/// The indexes of the transcripts read lately, one per path. Bounded: past `capacity` paths the least
/// recently read one is dropped (and rebuilt if read again).
pub struct TranscriptPages {
    capacity: usize,
    /// A use counter (for least-recently-read eviction) and the indexes by path.
    cache: Mutex<(u64, HashMap<PathBuf, Slot>)>,
}

impl Default for TranscriptPages {
    fn default() -> Self {
        TranscriptPages::new(256)
    }
}

impl TranscriptPages {
    pub fn new(capacity: usize) -> Self {
        TranscriptPages { capacity: capacity.max(1), cache: Mutex::new((0, HashMap::new())) }
    }

    fn slot(&self, path: &Path) -> Slot {
        let mut guard = self.cache.lock().unwrap();
        let (clock, map) = &mut *guard;
        *clock += 1;
        if !map.contains_key(path) && map.len() >= self.capacity {
            let oldest = map.iter().min_by_key(|(_, c)| c.lock().map_or(0, |c| c.used)).map(|(p, _)| p.clone());
            if let Some(p) = oldest {
                map.remove(&p);
            }
        }
        let slot = map
            .entry(path.to_path_buf())
            .or_insert_with(|| Arc::new(Mutex::new(Cached { identity: (0, 0), index: Default::default(), used: 0 })))
            .clone();
        slot.lock().unwrap().used = *clock;
        slot
    }

    /// One page of the transcript at `path` (blocking I/O: call from a blocking thread). A missing file
    /// is an empty transcript.
    pub fn page(
        &self,
        path: &Path,
        cursor: u64,
        limits: PageLimits,
        keep: impl Fn(&TranscriptEntry) -> bool,
    ) -> io::Result<Page> {
        let mut file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Page { entries: Vec::new(), next_cursor: cursor })
            }
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let slot = self.slot(path);
        let mut cached = slot.lock().unwrap();
        if cached.identity != identity(&meta) {
            cached.identity = identity(&meta);
            cached.index = TranscriptIndex::default();
        }
        cached.index.extend(&mut file, meta.len())?;
        cached.index.page(&mut file, cursor, limits, keep)
    }

    /// Paths indexed now.
    pub fn len(&self) -> usize {
        self.cache.lock().unwrap().1.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cc::transcript::EntryKind;
    use std::io::{Cursor, Write};

    fn fixture() -> String {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cc/transcripts");
        let mut all = String::new();
        for v in ["2.1.197", "2.1.330"] {
            let mut names: Vec<_> =
                std::fs::read_dir(format!("{dir}/{v}")).unwrap().map(|e| e.unwrap().path()).collect();
            names.sort();
            for p in names {
                all.push_str(&std::fs::read_to_string(p).unwrap());
            }
        }
        all
    }

    /// The old reading: every entry of the whole text.
    fn all_entries(text: &str) -> Vec<TranscriptEntry> {
        text.lines().filter_map(parse_record).flat_map(|r| r.entries).collect()
    }

    fn limits(n: usize) -> PageLimits {
        PageLimits { max_entries: n, ..Default::default() }
    }

    #[test]
    fn every_page_equals_the_same_slice_of_a_whole_file_read() {
        let text = fixture().repeat(3);
        let expected = all_entries(&text);
        assert!(expected.len() > 3 * STRIDE as usize, "fixture too small: {}", expected.len());
        let mut file = Cursor::new(text.as_bytes().to_vec());
        let mut index = TranscriptIndex::default();
        index.extend(&mut file, text.len() as u64).unwrap();
        assert_eq!(index.entries(), expected.len() as u64);
        assert!(index.marks() <= expected.len() / STRIDE as usize + 1, "{} marks", index.marks());
        for cursor in [0, 1, 63, 64, 65, 200, expected.len() - 1, expected.len(), expected.len() + 5] {
            for n in [1, 7, 200] {
                let page = index.page(&mut file, cursor as u64, limits(n), |_| true).unwrap();
                let want: Vec<_> =
                    expected.iter().enumerate().skip(cursor).take(n).map(|(i, e)| (i as u64, e.clone())).collect();
                assert_eq!(page.entries, want, "cursor {cursor} limit {n}");
                let next = if cursor >= expected.len() { cursor } else { (cursor + n).min(expected.len()) };
                assert_eq!(page.next_cursor, next as u64, "cursor {cursor} limit {n}");
            }
        }
        // A kinds filter keeps the indexes of the whole transcript.
        let page = index.page(&mut file, 10, limits(5), |e| e.kind == EntryKind::ToolUse).unwrap();
        let want: Vec<_> = expected
            .iter()
            .enumerate()
            .skip(10)
            .filter(|(_, e)| e.kind == EntryKind::ToolUse)
            .take(5)
            .map(|(i, e)| (i as u64, e.clone()))
            .collect();
        assert_eq!(page.entries, want);
        assert_eq!(page.next_cursor, want.last().unwrap().0 + 1);
    }

    #[test]
    fn the_index_grows_from_where_it_stopped_and_skips_a_partial_last_line() {
        let text = fixture();
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let (head, tail) = lines.split_at(lines.len() / 2);
        let mut bytes = head.concat().into_bytes();
        // Half of the next record, as when CC is writing it.
        let partial = &tail[0].as_bytes()[..tail[0].len() / 2];
        bytes.extend_from_slice(partial);
        let mut index = TranscriptIndex::default();
        index.extend(&mut Cursor::new(bytes.clone()), bytes.len() as u64).unwrap();
        assert_eq!(index.indexed_bytes(), head.concat().len() as u64);
        assert_eq!(index.entries(), all_entries(&head.concat()).len() as u64);
        bytes.truncate(head.concat().len());
        bytes.extend_from_slice(tail.concat().as_bytes());
        let mut file = Cursor::new(bytes.clone());
        index.extend(&mut file, bytes.len() as u64).unwrap();
        let mut fresh = TranscriptIndex::default();
        fresh.extend(&mut file, bytes.len() as u64).unwrap();
        assert_eq!(index, fresh, "extending equals indexing the whole file");
        // Truncated (replaced) files are indexed again.
        index.extend(&mut Cursor::new(b"".to_vec()), 0).unwrap();
        assert_eq!((index.entries(), index.marks()), (0, 0));
    }

    #[test]
    fn pages_are_bounded_in_bytes_and_scanning() {
        let text = fixture().repeat(2);
        let mut file = Cursor::new(text.as_bytes().to_vec());
        let mut index = TranscriptIndex::default();
        index.extend(&mut file, text.len() as u64).unwrap();
        let tight = PageLimits { max_entries: 1000, max_bytes: 4096, max_scanned: 1000 };
        let page = index.page(&mut file, 0, tight, |_| true).unwrap();
        assert!(!page.entries.is_empty());
        assert!(page.entries.iter().map(|(_, e)| text_size(e)).sum::<usize>() <= 4096 + text_size(&page.entries[0].1));
        assert_eq!(page.next_cursor, page.entries.last().unwrap().0 + 1);
        // A filter that matches nothing stops after max_scanned entries and says where.
        let scan = PageLimits { max_entries: 10, max_bytes: 1 << 20, max_scanned: 50 };
        let page = index.page(&mut file, 3, scan, |_| false).unwrap();
        assert_eq!((page.entries.len(), page.next_cursor), (0, 53));
    }

    #[test]
    fn the_cache_follows_the_file_and_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let pages = TranscriptPages::new(2);
        let text = fixture();
        let path = dir.path().join("t.jsonl");
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        std::fs::write(&path, lines[..10].concat()).unwrap();
        let first = pages.page(&path, 0, limits(1000), |_| true).unwrap();
        assert_eq!(first.entries.len(), all_entries(&lines[..10].concat()).len());
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(lines[10..].concat().as_bytes()).unwrap();
        let all = pages.page(&path, 0, limits(1000), |_| true).unwrap();
        assert_eq!(all.entries.len(), all_entries(&text).len());
        for i in 0..5 {
            let p = dir.path().join(format!("{i}.jsonl"));
            std::fs::write(&p, &text).unwrap();
            pages.page(&p, 0, limits(1), |_| true).unwrap();
        }
        assert_eq!(pages.len(), 2);
        let missing = pages.page(&dir.path().join("nope"), 4, limits(1), |_| true).unwrap();
        assert_eq!((missing.entries.len(), missing.next_cursor), (0, 4));
    }
}
