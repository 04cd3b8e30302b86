//! How far a completed update is made to survive: the durability modes.

/// How far a completed update is guaranteed to survive.
///
/// Every mode is atomic against a crash of the writing process at any
/// instant: afterwards, every reader that takes the lock sees the whole old
/// document or the whole new one. The modes differ in what else they promise
/// (readers without a lock, power loss) and in cost; docs/design.md compares them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Durability {
    /// Write a temporary file and rename it over the data file, without
    /// `fsync`. Survives any crash of the process (`kill -9`, panic, OOM
    /// kill): the kernel holds the written data and completes it. A crash of
    /// the whole machine (power loss, kernel panic) may lose the last updates
    /// that had not yet reached the disk — and on file systems that do not
    /// order the rename after the data, may leave an empty file.
    #[default]
    Rename,
    /// As [`Durability::Rename`], plus `fdatasync` of the temporary file
    /// before the rename and `fsync` of the directory after it. Once an update
    /// returns, it survives power loss. Costs one or two disk flushes per update.
    Fsync,
    /// The fast mode: write the data file in place, after writing the new
    /// document to a redo journal (`.<name>.jlock-journal`) that the next
    /// lock holder replays if the writer was killed mid-write. Survives any
    /// crash of the process, like [`Durability::Rename`], for every reader
    /// that takes the lock (all of jlock's do). It does **not** protect
    /// readers that take no lock (`cat`, `jq`): they may see a document
    /// half-written. Nor does it survive power loss. In exchange an update
    /// costs a few system calls instead of a new inode and a rename.
    Journal,
}

impl Durability {
    /// All modes, fastest first.
    pub const ALL: [Durability; 3] = [Durability::Journal, Durability::Rename, Durability::Fsync];

    /// The mode's name as the CLI and benchmarks spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Rename => "rename",
            Durability::Fsync => "fsync",
            Durability::Journal => "journal",
        }
    }
}

impl std::fmt::Display for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Durability {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Durability, String> {
        Durability::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| format!("unknown durability {s:?}; expected rename, fsync or journal"))
    }
}
