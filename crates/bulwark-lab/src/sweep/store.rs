//! A sweep's output folder:
//!
//! - `manifest.json`: what made it (the binary's and the sweep's hashes, the shard), the swept
//!   keys and every parameter set, so a later `merge` or resume can refuse a mismatch;
//! - `runs.partial.csv`: the resume log, one line per finished run in the order runs finished,
//!   appended and flushed as each ends (a line cut short by a crash is dropped on resume);
//! - `runs.csv`: every run of the sweep (or of the shard) in run-index order, written once all
//!   are done: the same bytes whatever the thread count, finishing order or machine.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::row::METRIC_COLUMNS;
use super::spec::Plan;

pub const MANIFEST: &str = "manifest.json";
pub const PARTIAL_CSV: &str = "runs.partial.csv";
pub const RUNS_CSV: &str = "runs.csv";

/// Bumped when the row layout changes, so old outputs are not resumed into new ones.
pub const FORMAT: u32 = 1;

/// One slice of a sweep: the runs whose index is `index` modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `i/n`, 0 <= i < n: e.g. `--shard 0/3`.
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("--shard {s}: expected i/n with 0 <= i < n, e.g. 0/3");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    pub fn holds(&self, run: u64) -> bool {
        run % u64::from(self.count) == u64::from(self.index)
    }
}

/// What made an output folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub sweep: String,
    /// blake3 of the program that ran the sweep: shards from another build may differ.
    pub binary_hash: String,
    /// blake3 of every parameter set's scenario as run (and the data files they read).
    pub sweep_hash: String,
    pub runs_total: u64,
    pub seeds: u32,
    pub sweep_seed: u64,
    pub shard: Option<Shard>,
    pub keys: Vec<String>,
    /// Each parameter set's swept values as text, by set index.
    pub sets: Vec<BTreeMap<String, String>>,
    /// Whether the report compares every set with the first on paired seeds.
    #[serde(default = "paired_default")]
    pub paired_comparison: bool,
}

fn paired_default() -> bool {
    true
}

impl Manifest {
    pub fn new(
        name: &str,
        plan: &Plan,
        binary_hash: &str,
        sweep_hash: &str,
        paired_comparison: bool,
    ) -> Manifest {
        Manifest {
            format: FORMAT,
            sweep: name.to_string(),
            binary_hash: binary_hash.to_string(),
            sweep_hash: sweep_hash.to_string(),
            runs_total: plan.total_runs(),
            seeds: plan.seeds,
            sweep_seed: plan.sweep_seed,
            shard: None,
            keys: plan.keys.clone(),
            sets: plan
                .sets
                .iter()
                .map(|s| plan.keys.iter().map(|k| (k.clone(), s.cell(k))).collect())
                .collect(),
            paired_comparison,
        }
    }

    /// The CSV header: `run,set,seed_index,seed`, the swept keys, the metrics.
    pub fn header(&self) -> Vec<String> {
        ["run", "set", "seed_index", "seed"]
            .iter()
            .map(|s| s.to_string())
            .chain(self.keys.iter().cloned())
            .chain(METRIC_COLUMNS.iter().map(|s| s.to_string()))
            .collect()
    }

    /// The runs this folder is for, in index order.
    pub fn runs(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.runs_total).filter(|r| self.shard.is_none_or(|s| s.holds(*r)))
    }

    pub fn read(dir: &Path) -> Result<Manifest, String> {
        let file = dir.join(MANIFEST);
        let text = fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))
    }

    fn write(&self, dir: &Path) -> Result<(), String> {
        let file = dir.join(MANIFEST);
        let mut text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        text.push('\n');
        fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))
    }
}

/// One CSV line (with its newline) from cells, quoted where a cell needs it.
pub fn csv_line(cells: &[String]) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing into memory cannot fail; a failure here would be a bug in the csv crate.
    w.write_record(cells).expect("csv into memory"); // ok: in-memory writer
    let bytes = w.into_inner().expect("csv into memory"); // ok: in-memory writer
    String::from_utf8(bytes).expect("cells are UTF-8") // ok: built from Strings
}

/// An output folder open for appending finished runs.
pub struct Store {
    dir: PathBuf,
    partial: File,
    /// Finished runs: index -> the line's cells.
    done: BTreeMap<u64, Vec<String>>,
    header: Vec<String>,
}

impl Store {
    /// Opens `dir` for `manifest`: a new folder is created; an existing one must have been
    /// made by the same binary for the same sweep and shard, and its finished runs are kept.
    pub fn open(dir: &Path, manifest: &Manifest) -> Result<Store, String> {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let header = manifest.header();
        let partial_path = dir.join(PARTIAL_CSV);
        let mut done = BTreeMap::new();
        if dir.join(MANIFEST).exists() {
            let old = Manifest::read(dir)?;
            check_same(&old, manifest, dir)?;
            done = read_partial(&partial_path, &header)?;
        } else {
            manifest.write(dir)?;
        }
        let fresh = done.is_empty();
        let mut partial = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(fresh)
            .open(&partial_path)
            .map_err(|e| format!("{}: {e}", partial_path.display()))?;
        if fresh {
            partial
                .write_all(csv_line(&header).as_bytes())
                .map_err(|e| format!("{}: {e}", partial_path.display()))?;
        } else {
            // Rewrite without a torn last line, so appends start on a line of their own.
            let mut text = csv_line(&header);
            for cells in done.values() {
                text.push_str(&csv_line(cells));
            }
            fs::write(&partial_path, text)
                .map_err(|e| format!("{}: {e}", partial_path.display()))?;
            partial = OpenOptions::new()
                .append(true)
                .open(&partial_path)
                .map_err(|e| format!("{}: {e}", partial_path.display()))?;
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            partial,
            done,
            header,
        })
    }

    pub fn is_done(&self, run: u64) -> bool {
        self.done.contains_key(&run)
    }

    pub fn done_count(&self) -> usize {
        self.done.len()
    }

    /// Records a finished run: appended to the resume log at once (flushed), kept for
    /// `runs.csv`.
    pub fn append(&mut self, run: u64, cells: Vec<String>) -> Result<(), String> {
        debug_assert_eq!(cells.len(), self.header.len());
        let path = self.dir.join(PARTIAL_CSV);
        self.partial
            .write_all(csv_line(&cells).as_bytes())
            .and_then(|()| self.partial.flush())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        self.done.insert(run, cells);
        Ok(())
    }

    /// Writes `runs.csv` in run-index order once every run of `manifest` is done.
    pub fn finish(&self, manifest: &Manifest) -> Result<Option<PathBuf>, String> {
        if manifest.runs().any(|r| !self.done.contains_key(&r)) {
            return Ok(None);
        }
        write_runs_csv(&self.dir, &self.header, self.done.values()).map(Some)
    }
}

/// Writes `runs.csv` from rows already in index order (through a temporary file, so a reader
/// never sees half of it).
pub fn write_runs_csv<'a>(
    dir: &Path,
    header: &[String],
    rows: impl Iterator<Item = &'a Vec<String>>,
) -> Result<PathBuf, String> {
    let mut text = csv_line(header);
    for cells in rows {
        text.push_str(&csv_line(cells));
    }
    let path = dir.join(RUNS_CSV);
    let tmp = dir.join(format!("{RUNS_CSV}.tmp"));
    fs::write(&tmp, text)
        .and_then(|()| fs::rename(&tmp, &path))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Reads a `runs.csv` (or the resume log): the rows by run index, checking the header.
pub fn read_rows(path: &Path, header: &[String]) -> Result<BTreeMap<u64, Vec<String>>, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_rows(&text, header, path, false)
}

fn read_partial(path: &Path, header: &[String]) -> Result<BTreeMap<u64, Vec<String>>, String> {
    match fs::read_to_string(path) {
        Ok(text) => parse_rows(&text, header, path, true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Rows of CSV text by run index. With `torn_ok`, a last line without its newline (a run
/// being written when the process stopped) is dropped instead of being an error.
fn parse_rows(
    text: &str,
    header: &[String],
    path: &Path,
    torn_ok: bool,
) -> Result<BTreeMap<u64, Vec<String>>, String> {
    let complete = match text.rfind('\n') {
        Some(end) if torn_ok => &text[..=end],
        None if torn_ok => "",
        _ => text,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(complete.as_bytes());
    let mut rows = BTreeMap::new();
    let at = |line: usize| format!("{} line {line}", path.display());
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("{}: {e}", at(i + 1)))?;
        let cells: Vec<String> = record.iter().map(str::to_string).collect();
        if i == 0 {
            if cells != header {
                return Err(format!(
                    "{}: the columns differ from this sweep's; use a new output folder",
                    at(1)
                ));
            }
            continue;
        }
        if cells.len() != header.len() {
            return Err(format!(
                "{}: {} cells, expected {}",
                at(i + 1),
                cells.len(),
                header.len()
            ));
        }
        let run: u64 = cells[0]
            .parse()
            .map_err(|_| format!("{}: run index {:?} is not a number", at(i + 1), cells[0]))?;
        rows.insert(run, cells);
    }
    Ok(rows)
}

/// An existing folder can be resumed only by the same binary, sweep and shard.
fn check_same(old: &Manifest, new: &Manifest, dir: &Path) -> Result<(), String> {
    let what = if old.format != new.format {
        Some("an older output format")
    } else if old.sweep_hash != new.sweep_hash {
        Some("a different sweep (its scenario or swept values changed)")
    } else if old.binary_hash != new.binary_hash {
        Some("a different build of bulwark")
    } else if old.shard != new.shard {
        Some("a different --shard")
    } else {
        None
    };
    match what {
        Some(w) => Err(format!(
            "{} holds results of {w}; resume only with the same sweep, build and shard, or \
             give a new --out",
            dir.display()
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_parses_and_partitions() {
        let s: Shard = "1/3".parse().unwrap(); // ok: test
        assert_eq!(s, Shard { index: 1, count: 3 });
        assert!(s.holds(4) && !s.holds(3));
        for bad in ["3/3", "1", "a/2", "0/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_torn_last_line_is_dropped_only_from_the_resume_log() {
        let header: Vec<String> = ["run", "x"].iter().map(|s| s.to_string()).collect();
        let text = "run,x\n0,a\n2,\"b,c\"\n1,d";
        let p = Path::new("runs.partial.csv");
        let rows = parse_rows(text, &header, p, true).unwrap(); // ok: test
        assert_eq!(rows.keys().copied().collect::<Vec<_>>(), [0, 2]);
        assert_eq!(rows[&2][1], "b,c");
        let all = parse_rows(text, &header, p, false).unwrap(); // ok: test
        assert_eq!(all.len(), 3);
        let err = parse_rows("run,y\n", &header, p, false).unwrap_err(); // ok: test
        assert!(err.contains("columns differ"), "{err}");
    }
}
