//! One queued change as the applier sees it: queue position, key, opcode and the key's value.

use std::fmt;

/// What a change does to its key, as in RDI's `opcode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// The command created the key.
    Create,
    /// The command changed an existing key.
    Update,
    /// The key went away.
    Delete,
    /// Backfill of an existing key (`RDI.RESET`).
    Refresh,
}

impl Opcode {
    /// The one-letter code used in the queue and in records: `c`, `u`, `d`, `r`.
    pub fn as_str(self) -> &'static str {
        match self {
            Opcode::Create => "c",
            Opcode::Update => "u",
            Opcode::Delete => "d",
            Opcode::Refresh => "r",
        }
    }

    /// Parses a one-letter code.
    pub fn parse(s: &[u8]) -> Option<Opcode> {
        match s {
            b"c" => Some(Opcode::Create),
            b"u" => Some(Opcode::Update),
            b"d" => Some(Opcode::Delete),
            b"r" => Some(Opcode::Refresh),
            _ => None,
        }
    }
}

/// A queue position: a Redis stream entry ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EntryId {
    /// Milliseconds part (the server's clock when the change was queued).
    pub ms: u64,
    /// Sequence within the millisecond.
    pub seq: u64,
}

impl EntryId {
    /// Parses `ms-seq`.
    pub fn parse(s: &str) -> Option<EntryId> {
        let (ms, seq) = s.split_once('-')?;
        Some(EntryId {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// The largest ID before this one (`0-0` stays `0-0`).
    pub fn previous(self) -> EntryId {
        match self.seq.checked_sub(1) {
            Some(seq) => EntryId { ms: self.ms, seq },
            None if self.ms > 0 => EntryId {
                ms: self.ms - 1,
                seq: u64::MAX,
            },
            None => self,
        }
    }

    /// The smallest ID after this one.
    pub fn next(self) -> EntryId {
        match self.seq.checked_add(1) {
            Some(seq) => EntryId { ms: self.ms, seq },
            None => EntryId {
                ms: self.ms.saturating_add(1),
                seq: 0,
            },
        }
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// The value of a change's key when the applier reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyValue {
    /// The key does not exist any more (a later change in the queue deletes it).
    Missing,
    /// The key's content as a record (a hash gives an object of string fields).
    Record(serde_json::Map<String, serde_json::Value>),
    /// The key holds a type that cannot be captured (the type's name).
    Unsupported(String),
    /// A hash with fields whose name or value is not UTF-8 (`names`, read with U+FFFD in `fields`):
    /// written without them if the job reads none of them, else rejected.
    NotUtf8 {
        fields: serde_json::Map<String, serde_json::Value>,
        names: Vec<String>,
    },
}

/// One change read from a job's queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Its position in the queue.
    pub id: EntryId,
    /// The Redis key (lossy UTF-8 for messages and records).
    pub key: String,
    /// What happened.
    pub opcode: Opcode,
    /// For upserts: the key's current value. For deletes: the value captured just before the key went
    /// (`Missing` when none could be captured).
    pub value: KeyValue,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_parse_print_and_advance() {
        let id = EntryId::parse("1700000000000-5").unwrap();
        assert_eq!(
            id,
            EntryId {
                ms: 1_700_000_000_000,
                seq: 5
            }
        );
        assert_eq!(id.to_string(), "1700000000000-5");
        assert_eq!(id.next().to_string(), "1700000000000-6");
        assert_eq!(
            EntryId {
                ms: 1,
                seq: u64::MAX
            }
            .next(),
            EntryId { ms: 2, seq: 0 }
        );
        assert!(EntryId::parse("abc").is_none());
    }

    #[test]
    fn opcodes_round_trip() {
        for op in [
            Opcode::Create,
            Opcode::Update,
            Opcode::Delete,
            Opcode::Refresh,
        ] {
            assert_eq!(Opcode::parse(op.as_str().as_bytes()), Some(op));
        }
    }
}
