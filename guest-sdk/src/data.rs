//! Flyte's data types (`wasmdask:task/data` in `wit/wasmdask.wit`), with helpers to read and
//! write them as files and to convert datetimes and durations to and from `std::time`.
//!
//! A task world uses the records from the shared WIT package instead of declaring copies:
//!
//! ```wit
//! package my:tasks;
//!
//! world tasks {
//!     use wasmdask:task/data@0.1.3.{file, directory, datetime};
//!     export shard-sums: func(shards: directory) -> result<file, string>;
//! }
//! ```
//!
//! and its bindings take the types from this module, so these helpers apply to them:
//!
//! ```ignore
//! wasmdask_guest::wit_bindgen::generate!({
//!     world: "my:tasks/tasks",
//!     // The wasmdask package first (where your checkout of wasmdask is), then your own.
//!     path: ["../wasmdask/wit", "wit"],
//!     with: { "wasmdask:task/data@0.1.3": wasmdask_guest::data },
//!     runtime_path: "wasmdask_guest::wit_bindgen::rt",
//! });
//! ```
//!
//! An input's path field is where the sandbox mounted it (`/inputs/<n>…`, read-only); an output
//! is written under `/outputs` and returned with its path set and `uri` empty (see
//! [`File::create_output`], [`Directory::create_output`]). The records derive serde's traits,
//! so they are passed to subtasks by [`cluster`](crate::cluster) like any other argument:
//! [`Directory::file_by_uri`] names one file of a directory by URI, which the subtask's sandbox
//! fetches on its own.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub use bindings::wasmdask::task::data::{Datetime, Directory, Duration, File, StructuredDataset};

/// The records, generated from the shared WIT package with serde's traits (so they pass to
/// subtasks as arguments) and `PartialEq`. A world of its own, separate from the SDK's
/// `imports`: a task that never uses the records gets no `data` import.
#[allow(unsafe_code, missing_debug_implementations, dead_code, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        inline: "package wasmdask:guest-sdk;\nworld data { import wasmdask:task/data@0.1.3; }",
        path: "../wit",
        generate_all,
        generate_unused_types: true,
        additional_derives: [PartialEq, Eq, serde::Serialize, serde::Deserialize],
    });
}

/// The directory a task writes its outputs under (fresh and empty for each execution).
pub const OUTPUTS: &str = "/outputs";

const NANOS_PER_SECOND: u32 = 1_000_000_000;

/// A file operation on Flyte data that failed; its message names the path.
#[derive(Debug)]
pub struct DataError {
    path: String,
    action: &'static str,
    source: io::Error,
}

impl DataError {
    fn new(action: &'static str, path: impl AsRef<Path>) -> impl FnOnce(io::Error) -> Self {
        let path = path.as_ref().display().to_string();
        move |source| DataError {
            path,
            action,
            source,
        }
    }

    /// The path the operation was on.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot {} {}: {}", self.action, self.path, self.source)
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// So an export returning `result<T, string>` can use `?` on the helpers.
impl From<DataError> for String {
    fn from(error: DataError) -> String {
        error.to_string()
    }
}

/// `/outputs/<name>`, creating the directories above it.
fn output_path(name: &str) -> Result<PathBuf, DataError> {
    let path = Path::new(OUTPUTS).join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(DataError::new("create", parent))?;
    }
    Ok(path)
}

fn path_string(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The names of the entries of `dir`, sorted.
fn sorted_names(dir: &str) -> Result<Vec<String>, DataError> {
    let mut names = std::fs::read_dir(dir)
        .and_then(|entries| {
            entries
                .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<io::Result<Vec<_>>>()
        })
        .map_err(DataError::new("list", dir))?;
    names.sort();
    Ok(names)
}

impl File {
    /// A file known only by its URI, to pass to a subtask (which fetches it where it runs).
    pub fn from_uri(uri: impl Into<String>) -> File {
        File {
            path: String::new(),
            uri: uri.into(),
            format: String::new(),
        }
    }

    /// The file's contents.
    pub fn read(&self) -> Result<Vec<u8>, DataError> {
        std::fs::read(&self.path).map_err(DataError::new("read", &self.path))
    }

    /// The file's contents as UTF-8 text.
    pub fn read_to_string(&self) -> Result<String, DataError> {
        std::fs::read_to_string(&self.path).map_err(DataError::new("read", &self.path))
    }

    /// Writes `contents` to `/outputs/<name>` (`name` may hold `/`) and returns that file as an
    /// output of the given Flyte `format` (`""` for any), which the host uploads.
    pub fn create_output(
        name: &str,
        format: &str,
        contents: impl AsRef<[u8]>,
    ) -> Result<File, DataError> {
        let path = output_path(name)?;
        std::fs::write(&path, contents).map_err(DataError::new("write", &path))?;
        Ok(File {
            path: path_string(&path),
            uri: String::new(),
            format: format.to_owned(),
        })
    }
}

impl Directory {
    /// The names of the directory's entries, sorted.
    pub fn file_names(&self) -> Result<Vec<String>, DataError> {
        sorted_names(&self.dir_path)
    }

    /// Where the entry `name` is read in this sandbox.
    pub fn path_of(&self, name: &str) -> PathBuf {
        Path::new(&self.dir_path).join(name)
    }

    /// The entry `name` as a file known by its URI (`<uri>/<name>`), to hand one shard to a
    /// subtask: only that subtask's sandbox fetches it.
    pub fn file_by_uri(&self, name: &str) -> File {
        File::from_uri(format!("{}/{name}", self.uri.trim_end_matches('/')))
    }

    /// Creates the empty directory `/outputs/<name>` and returns it as an output; write its
    /// files under [`Directory::path_of`] before returning it.
    pub fn create_output(name: &str, format: &str) -> Result<Directory, DataError> {
        let path = output_path(name)?;
        std::fs::create_dir_all(&path).map_err(DataError::new("create", &path))?;
        Ok(Directory {
            dir_path: path_string(&path),
            uri: String::new(),
            format: format.to_owned(),
        })
    }
}

impl StructuredDataset {
    /// The paths of the dataset's files, sorted by name (pandas and pyarrow write one or more
    /// `.parquet` files into the dataset's directory).
    pub fn files(&self) -> Result<Vec<PathBuf>, DataError> {
        let names = sorted_names(&self.dataset_path)?;
        Ok(names
            .iter()
            .map(|name| Path::new(&self.dataset_path).join(name))
            .collect())
    }

    /// Creates the empty directory `/outputs/<name>` and returns it as a parquet dataset; write
    /// its `.parquet` files there before returning it.
    pub fn create_output(name: &str) -> Result<StructuredDataset, DataError> {
        let path = output_path(name)?;
        std::fs::create_dir_all(&path).map_err(DataError::new("create", &path))?;
        Ok(StructuredDataset {
            dataset_path: path_string(&path),
            uri: String::new(),
            format: "parquet".to_owned(),
        })
    }
}

/// The instant `unix_seconds` (+ `nanos`) after the epoch: protobuf's `Timestamp`, whose `nanos`
/// count forward even before 1970.
impl From<SystemTime> for Datetime {
    fn from(time: SystemTime) -> Datetime {
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => Datetime {
                unix_seconds: i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
                nanos: after.subsec_nanos(),
            },
            Err(before) => {
                let before = before.duration();
                let seconds = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
                match before.subsec_nanos() {
                    0 => Datetime {
                        unix_seconds: -seconds,
                        nanos: 0,
                    },
                    nanos => Datetime {
                        unix_seconds: -seconds - 1,
                        nanos: NANOS_PER_SECOND - nanos,
                    },
                }
            }
        }
    }
}

impl From<Datetime> for SystemTime {
    fn from(time: Datetime) -> SystemTime {
        let seconds = std::time::Duration::from_secs(time.unix_seconds.unsigned_abs());
        let base = if time.unix_seconds >= 0 {
            UNIX_EPOCH + seconds
        } else {
            UNIX_EPOCH - seconds
        };
        base + std::time::Duration::from_nanos(u64::from(time.nanos))
    }
}

impl Datetime {
    /// `self + step`, or `None` past the range of `unix-seconds`.
    pub fn checked_add(self, step: Duration) -> Option<Datetime> {
        let nanos = i64::from(self.nanos) + i64::from(step.nanos);
        let seconds = self
            .unix_seconds
            .checked_add(step.seconds)?
            .checked_add(nanos.div_euclid(i64::from(NANOS_PER_SECOND)))?;
        Some(Datetime {
            unix_seconds: seconds,
            nanos: u32::try_from(nanos.rem_euclid(i64::from(NANOS_PER_SECOND)))
                .expect("rem_euclid is below one second"),
        })
    }
}

impl From<std::time::Duration> for Duration {
    /// Saturates at `i64::MAX` seconds (292 billion years).
    fn from(length: std::time::Duration) -> Duration {
        Duration {
            seconds: i64::try_from(length.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(length.subsec_nanos()).expect("subsec_nanos is below 10^9"),
        }
    }
}

/// A negative [`Duration`], which `std::time::Duration` cannot hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegativeDuration;

impl fmt::Display for NegativeDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a negative duration has no std::time::Duration")
    }
}

impl std::error::Error for NegativeDuration {}

impl TryFrom<Duration> for std::time::Duration {
    type Error = NegativeDuration;

    fn try_from(length: Duration) -> Result<std::time::Duration, NegativeDuration> {
        let seconds = u64::try_from(length.seconds).map_err(|_| NegativeDuration)?;
        let nanos = u32::try_from(length.nanos).map_err(|_| NegativeDuration)?;
        Ok(std::time::Duration::new(seconds, nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datetime(unix_seconds: i64, nanos: u32) -> Datetime {
        Datetime {
            unix_seconds,
            nanos,
        }
    }

    #[test]
    fn datetimes_convert_to_and_from_system_time_both_sides_of_the_epoch() {
        for (seconds, nanos) in [
            (0, 0),
            (1_714_566_600, 500),
            (-1, 999_999_999),
            (-14_182_940, 0),
        ] {
            let time = datetime(seconds, nanos);
            let system = SystemTime::from(time);
            assert_eq!(Datetime::from(system), time, "{seconds}.{nanos}");
        }
        let before = UNIX_EPOCH - std::time::Duration::from_nanos(1);
        assert_eq!(Datetime::from(before), datetime(-1, 999_999_999));
    }

    #[test]
    fn adding_a_duration_carries_nanoseconds_in_both_directions() {
        let start = datetime(946_684_800, 0);
        let back = Duration {
            seconds: 0,
            nanos: -1_000,
        };
        assert_eq!(
            start.checked_add(back),
            Some(datetime(946_684_799, 999_999_000))
        );
        let forward = Duration {
            seconds: 90,
            nanos: 600_000_000,
        };
        assert_eq!(
            datetime(10, 500_000_000).checked_add(forward),
            Some(datetime(101, 100_000_000))
        );
        assert_eq!(datetime(i64::MAX, 0).checked_add(forward), None);
    }

    #[test]
    fn durations_convert_to_std_unless_negative() {
        let length = std::time::Duration::new(5, 250);
        assert_eq!(
            std::time::Duration::try_from(Duration::from(length)),
            Ok(length)
        );
        let negative = Duration {
            seconds: -1,
            nanos: 0,
        };
        assert_eq!(
            std::time::Duration::try_from(negative),
            Err(NegativeDuration)
        );
    }
}
