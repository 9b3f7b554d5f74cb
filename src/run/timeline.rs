//! When each piece of a run's transcript arrived, kept as offsets into the transcript (never
//! copies of its text), so a run can be played back as it streamed.
//!
//! Stored in a run as `"stream":"t1.…"`: after the version, base64 (URL alphabet, no padding)
//! of two LEB128 varints per piece: its length in bytes of the transcript, zigzag-signed and
//! negative for text the system put in (an execution result) rather than the teacher, then the
//! milliseconds since the previous piece arrived (the first: since the run started). Piece `i`
//! is `transcript[start..start + |len|]`, `start` the sum of the lengths before it. A typical
//! piece takes two bytes before base64. The readable form `{"ms":[…],"bytes":[…]}` (the same
//! deltas as arrays) is read too.

use std::ops::Range;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::teacher::TeacherEvent;
use crate::teacher::replay::Pace;

/// Who wrote a piece of the transcript.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Streamed by the teacher.
    Teacher,
    /// Put in by moss: an execution result and the blank lines around it.
    System,
}

/// One piece of a transcript as it arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// Milliseconds from the start of the run.
    pub at_ms: u64,
    /// Bytes of the transcript.
    pub len: usize,
    pub origin: Origin,
}

/// A piece with its text, ready to be played back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk<'t> {
    /// From the start of the run.
    pub at: Duration,
    pub text: &'t str,
    pub origin: Origin,
}

impl Chunk<'_> {
    /// This piece as the teacher sent it; `None` for the system's (which moss puts in itself).
    #[must_use]
    pub fn teacher_event(&self) -> Option<TeacherEvent> {
        (self.origin == Origin::Teacher).then(|| TeacherEvent::Text(self.text.to_owned()))
    }
}

/// Text that replaced `removed` (bytes of the old transcript) with `inserted` bytes of the
/// system's: how filling in results changes a transcript after it streamed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Splice {
    pub removed: Range<usize>,
    pub inserted: usize,
}

/// The pieces of a transcript, in order; together they cover it exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    pieces: Vec<Piece>,
}

impl Timeline {
    /// Notes `len` more bytes of the transcript arriving `at` from the start of the run (never
    /// before the previous piece). Empty pieces are not kept.
    pub fn push(&mut self, at: Duration, len: usize, origin: Origin) {
        if len == 0 {
            return;
        }
        let at_ms = u64::try_from(at.as_millis())
            .unwrap_or(u64::MAX)
            .max(self.last_ms());
        self.pieces.push(Piece { at_ms, len, origin });
    }

    #[must_use]
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Bytes of transcript covered.
    #[must_use]
    pub fn covered(&self) -> usize {
        self.pieces.iter().map(|p| p.len).sum()
    }

    fn last_ms(&self) -> u64 {
        self.pieces.last().map_or(0, |p| p.at_ms)
    }

    /// Whether this timeline covers `transcript` exactly, every piece on character boundaries
    /// (a transcript edited by hand no longer fits its timeline).
    #[must_use]
    pub fn fits(&self, transcript: &str) -> bool {
        let mut at = 0usize;
        for piece in &self.pieces {
            at = at.saturating_add(piece.len);
            if !transcript.is_char_boundary(at) {
                return false;
            }
        }
        at == transcript.len()
    }

    /// The pieces of `transcript` with their text, or `None` when this timeline does not fit
    /// it.
    #[must_use]
    pub fn chunks<'t>(&self, transcript: &'t str) -> Option<Vec<Chunk<'t>>> {
        if !self.fits(transcript) {
            return None;
        }
        let mut start = 0;
        Some(
            self.pieces
                .iter()
                .map(|p| {
                    let text = &transcript[start..start + p.len];
                    start += p.len;
                    Chunk {
                        at: Duration::from_millis(p.at_ms),
                        text,
                        origin: p.origin,
                    }
                })
                .collect(),
        )
    }

    /// The timeline of the transcript after `splices` (in order, in the old transcript's
    /// bytes, not overlapping): removed bytes leave their pieces, inserted ones are system
    /// pieces shown with the piece they follow.
    pub fn splice(&mut self, splices: &[Splice]) {
        let old = std::mem::take(&mut self.pieces);
        let mut splices = splices.iter().peekable();
        let mut pos = 0;
        // Old bytes before this are removed.
        let mut removed_to = 0;
        let mut at = 0;
        for piece in old {
            let (mut start, end) = (pos, pos + piece.len);
            pos = end;
            at = piece.at_ms;
            while start < end {
                if start < removed_to {
                    start = removed_to.min(end);
                    continue;
                }
                match splices.peek() {
                    Some(splice) if splice.removed.start < end => {
                        let cut = splice.removed.start.max(start);
                        self.push_ms(at, cut - start, piece.origin);
                        self.push_ms(at, splice.inserted, Origin::System);
                        removed_to = splice.removed.end;
                        start = cut;
                        splices.next();
                    }
                    _ => {
                        self.push_ms(at, end - start, piece.origin);
                        start = end;
                    }
                }
            }
        }
        for splice in splices {
            self.push_ms(at, splice.inserted, Origin::System);
        }
    }

    /// The timeline `transcript` would have streamed in at `pace` (for runs recorded without
    /// one): all of it the teacher's.
    #[must_use]
    pub fn paced(transcript: &str, pace: &Pace) -> Self {
        let mut timeline = Self::default();
        let mut at = Duration::ZERO;
        for (n, chunk) in pace.chunks(transcript).enumerate() {
            if n > 0 {
                at += pace.before(chunk);
            }
            timeline.push(at, chunk.len(), Origin::Teacher);
        }
        timeline
    }

    fn push_ms(&mut self, at_ms: u64, len: usize, origin: Origin) {
        self.push(Duration::from_millis(at_ms), len, origin);
    }
}

/// The readable stored form: deltas as arrays.
#[derive(Deserialize)]
struct Wire {
    ms: Vec<u64>,
    bytes: Vec<i64>,
}

/// The compact stored form's prefix: its version.
const COMPACT: &str = "t1.";

/// What a stored timeline may be.
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Compact(String),
    Readable(Wire),
}

fn push_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = u8::try_from(n & 0x7f).unwrap_or(0);
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_varint(bytes: &mut impl Iterator<Item = u8>) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = bytes.next()?;
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

impl Timeline {
    /// The (ms delta, signed length) of each piece, as stored.
    fn deltas(&self) -> impl Iterator<Item = (u64, i64)> + '_ {
        let mut last = 0;
        self.pieces.iter().map(move |piece| {
            let ms = piece.at_ms - last;
            last = piece.at_ms;
            let len = i64::try_from(piece.len).unwrap_or(i64::MAX);
            let len = match piece.origin {
                Origin::Teacher => len,
                Origin::System => -len,
            };
            (ms, len)
        })
    }

    /// Pieces from stored (ms delta, signed length) pairs.
    fn from_deltas(deltas: impl IntoIterator<Item = (u64, i64)>) -> Result<Self, String> {
        let mut at_ms = 0u64;
        let mut pieces = Vec::new();
        for (ms, bytes) in deltas {
            at_ms = at_ms.saturating_add(ms);
            let len = usize::try_from(bytes.unsigned_abs()).map_err(|e| e.to_string())?;
            if len == 0 {
                return Err("a timeline piece is empty".to_owned());
            }
            let origin = if bytes < 0 {
                Origin::System
            } else {
                Origin::Teacher
            };
            pieces.push(Piece { at_ms, len, origin });
        }
        Ok(Self { pieces })
    }
}

impl Serialize for Timeline {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        let mut raw = Vec::with_capacity(2 * self.pieces.len());
        for (ms, len) in self.deltas() {
            // Zigzag: small lengths of either sign stay one byte.
            push_varint(&mut raw, ((len << 1) ^ (len >> 63)).cast_unsigned());
            push_varint(&mut raw, ms);
        }
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        serializer.serialize_str(&format!("{COMPACT}{encoded}"))
    }
}

impl<'de> Deserialize<'de> for Timeline {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use base64::Engine as _;
        use serde::de::Error as _;
        match Stored::deserialize(deserializer)? {
            Stored::Readable(wire) => {
                if wire.ms.len() != wire.bytes.len() {
                    return Err(D::Error::custom("a timeline needs as many ms as bytes"));
                }
                Self::from_deltas(wire.ms.into_iter().zip(wire.bytes)).map_err(D::Error::custom)
            }
            Stored::Compact(text) => {
                let encoded = text
                    .strip_prefix(COMPACT)
                    .ok_or_else(|| D::Error::custom("an unknown timeline version"))?;
                let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(encoded)
                    .map_err(D::Error::custom)?;
                let mut bytes = raw.into_iter().peekable();
                let mut deltas = Vec::new();
                while bytes.peek().is_some() {
                    let (Some(zigzag), Some(ms)) =
                        (read_varint(&mut bytes), read_varint(&mut bytes))
                    else {
                        return Err(D::Error::custom("a timeline ends inside a piece"));
                    };
                    let len = (zigzag >> 1).cast_signed() ^ -((zigzag & 1).cast_signed());
                    deltas.push((ms, len));
                }
                Self::from_deltas(deltas).map_err(D::Error::custom)
            }
        }
    }
}

/// A run's `stream` field: one that cannot be read is no timeline, never an unreadable run.
pub(crate) fn lenient<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Timeline>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value.and_then(|v| serde_json::from_value(v).ok()))
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    fn timeline(pieces: &[(u64, usize, Origin)]) -> Timeline {
        let mut t = Timeline::default();
        for &(ms, len, origin) in pieces {
            t.push(Duration::from_millis(ms), len, origin);
        }
        t
    }

    #[test]
    fn stored_as_deltas_with_system_pieces_negative() {
        let t = timeline(&[
            (120, 6, Origin::Teacher),
            (150, 3, Origin::Teacher),
            (900, 40, Origin::System),
            (1000, 9, Origin::Teacher),
        ]);
        let json = serde_json::to_string(&t).expect("json");
        // Pairs of varints: zigzag 6 → 12, 120; 3 → 6, 30; -40 → 79, 750 (two bytes: 0xee 0x05);
        // 9 → 18, 100.
        let raw = [12u8, 120, 6, 30, 79, 0xee, 0x05, 18, 100];
        let expected = format!(
            "\"t1.{}\"",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        );
        assert_eq!(json, expected);
        assert_eq!(serde_json::from_str::<Timeline>(&json).expect("back"), t);
        // The readable form of the same deltas reads the same.
        let readable = r#"{"ms":[120,30,750,100],"bytes":[6,3,-40,9]}"#;
        assert_eq!(
            serde_json::from_str::<Timeline>(readable).expect("readable"),
            t
        );
        // Long pieces and long pauses round-trip.
        let big = timeline(&[
            (0, 1, Origin::Teacher),
            (9_000_000, 1 << 20, Origin::System),
        ]);
        let json = serde_json::to_string(&big).expect("json");
        assert_eq!(serde_json::from_str::<Timeline>(&json).expect("back"), big);
    }

    #[test]
    fn times_never_go_back_and_empty_pieces_are_dropped() {
        let t = timeline(&[
            (50, 3, Origin::Teacher),
            (40, 3, Origin::Teacher),
            (60, 0, Origin::Teacher),
        ]);
        let ms: Vec<u64> = t.pieces().iter().map(|p| p.at_ms).collect();
        assert_eq!(ms, [50, 50]);
    }

    #[test]
    fn a_timeline_fits_only_its_transcript_on_char_boundaries() {
        let text = "天空是蓝色";
        let t = timeline(&[(1, 6, Origin::Teacher), (2, 9, Origin::Teacher)]);
        assert!(t.fits(text));
        let chunks = t.chunks(text).expect("fits");
        assert_eq!(chunks[0].text, "天空");
        assert_eq!(chunks[1].text, "是蓝色");
        assert!(!t.fits("天空是蓝色的"), "longer");
        assert!(!t.fits("天空"), "shorter");
        let split = timeline(&[(1, 4, Origin::Teacher), (2, 11, Origin::Teacher)]);
        assert!(!split.fits(text), "inside a character");
        assert!(split.chunks(text).is_none());
    }

    #[test]
    fn a_run_without_a_timeline_gets_one_at_the_replay_pace() {
        let pace = Pace {
            chunk_chars: 2,
            pause: crate::teacher::replay::Pause::Fixed(Duration::from_millis(100)),
        };
        let t = Timeline::paced("天空是蓝色", &pace);
        let chunks = t.chunks("天空是蓝色").expect("fits");
        let got: Vec<(u128, &str)> = chunks.iter().map(|c| (c.at.as_millis(), c.text)).collect();
        assert_eq!(got, [(0, "天空"), (100, "是蓝"), (200, "色")]);
    }

    #[test]
    fn unreadable_stream_fields_are_no_timeline() {
        #[derive(Deserialize)]
        struct Holder {
            #[serde(default, deserialize_with = "lenient")]
            stream: Option<Timeline>,
        }
        for json in [
            r#"{"stream":{"ms":[1,2],"bytes":[3]}}"#,
            r#"{"stream":{"ms":"x"}}"#,
            r#"{"stream":{"ms":[1],"bytes":[0]}}"#,
            r#"{"stream":null}"#,
            "{}",
        ] {
            let holder: Holder = serde_json::from_str(json).expect(json);
            assert!(holder.stream.is_none(), "{json}");
        }
    }

    #[test]
    fn splicing_moves_pieces_and_inserts_system_ones() {
        // "ab|cd|ef" with "cd" partly replaced: old bytes 3..5 ("d" and "e") become 4 bytes.
        let mut t = timeline(&[
            (10, 2, Origin::Teacher),
            (20, 2, Origin::Teacher),
            (30, 2, Origin::Teacher),
        ]);
        t.splice(&[
            Splice {
                removed: 3..5,
                inserted: 4,
            },
            Splice {
                removed: 6..6,
                inserted: 5,
            },
        ]);
        let got: Vec<(u64, usize, Origin)> = t
            .pieces()
            .iter()
            .map(|p| (p.at_ms, p.len, p.origin))
            .collect();
        assert_eq!(
            got,
            [
                (10, 2, Origin::Teacher),
                (20, 1, Origin::Teacher),
                (20, 4, Origin::System),
                (30, 1, Origin::Teacher),
                (30, 5, Origin::System),
            ]
        );
        assert_eq!(t.covered(), 6 - 2 + 4 + 5);
    }
}
