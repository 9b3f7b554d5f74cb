//! Keeping secrets of the host out of captured output.
//!
//! The code runs with a cleared environment, but it may still find a secret some other way (a
//! file, another process) and print it into the transcript. Every value of our own environment
//! that looks like a secret is replaced by [`REDACTED`] wherever it appears in the output. This
//! is a last line of defence, not a guarantee: a secret printed in another form (encoded,
//! reversed, a piece at a time with other text between) is not recognised.

use std::fmt;
use std::sync::{Arc, OnceLock};

use memchr::memmem::Finder;

/// What a secret is replaced by.
pub const REDACTED: &str = "***";

/// Environment values with fewer characters are not treated as secrets (they would redact
/// ordinary words).
pub const MIN_SECRET_LEN: usize = 8;

/// An environment variable whose name (upper-cased) contains one of these holds a secret.
const SECRET_NAME_PARTS: [&str; 4] = ["KEY", "TOKEN", "SECRET", "PASSWORD"];

/// Replaces every occurrence of every secret in `text` with [`REDACTED`].
///
/// Overlapping or adjacent occurrences become one [`REDACTED`]; empty secrets are ignored.
#[must_use]
pub fn redact_secrets(text: &str, secrets: &[String]) -> String {
    let redactor = Redactor::new(secrets.iter().map(String::as_str));
    // Only whole UTF-8 sequences (the secrets) are replaced by ASCII, so the result is UTF-8.
    String::from_utf8_lossy(&redactor.redact(text.as_bytes())).into_owned()
}

/// The secrets of this process's environment, collected once: the values of variables whose
/// name contains `KEY`, `TOKEN`, `SECRET` or `PASSWORD` (in any case) that are at least
/// [`MIN_SECRET_LEN`] characters long.
pub(crate) fn env_secrets() -> &'static [String] {
    static SECRETS: OnceLock<Vec<String>> = OnceLock::new();
    SECRETS.get_or_init(|| secrets_in(std::env::vars_os()))
}

/// The secret values among `vars` (see [`env_secrets`]); values that are not UTF-8 are skipped.
fn secrets_in(
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Vec<String> {
    let mut secrets: Vec<String> = vars
        .into_iter()
        .filter(|(name, _)| {
            let name = name.to_string_lossy().to_uppercase();
            SECRET_NAME_PARTS.iter().any(|part| name.contains(part))
        })
        .filter_map(|(_, value)| value.into_string().ok())
        .filter(|value| value.chars().count() >= MIN_SECRET_LEN)
        .collect();
    secrets.sort();
    secrets.dedup();
    secrets
}

/// Finds secrets in bytes. Cheap to clone; its `Debug` output never shows a secret.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    finders: Arc<[Finder<'static>]>,
    longest: usize,
}

impl Redactor {
    pub(crate) fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut secrets: Vec<&str> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        secrets.sort_unstable();
        secrets.dedup();
        let longest = secrets.iter().map(|s| s.len()).max().unwrap_or(0);
        Self {
            finders: secrets
                .iter()
                .map(|s| Finder::new(s.as_bytes()).into_owned())
                .collect(),
            longest,
        }
    }

    /// The length of the longest secret: a capture must look this far past its limit, less
    /// one byte, to see every secret that starts before the limit.
    pub(crate) fn longest(&self) -> usize {
        self.longest
    }

    /// The byte ranges of `bytes` covered by any occurrence of any secret, sorted and merged
    /// (overlapping and touching occurrences become one range).
    pub(crate) fn covered(&self, bytes: &[u8]) -> Vec<(usize, usize)> {
        let mut ranges = Vec::new();
        for finder in self.finders.iter() {
            let len = finder.needle().len();
            let mut from = 0;
            // Every occurrence, overlapping ones included.
            while let Some(at) = finder.find(&bytes[from..]) {
                let start = from + at;
                ranges.push((start, start + len));
                from = start + 1;
                if from >= bytes.len() {
                    break;
                }
            }
        }
        ranges.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        merged
    }

    /// `bytes` with every covered range replaced by [`REDACTED`].
    pub(crate) fn redact(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        let mut pos = 0;
        for (start, end) in self.covered(bytes) {
            out.extend_from_slice(&bytes[pos..start]);
            out.extend_from_slice(REDACTED.as_bytes());
            pos = end;
        }
        out.extend_from_slice(&bytes[pos..]);
        out
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.finders.len())
            .field("longest", &self.longest)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;

    fn secrets(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn every_occurrence_is_redacted() {
        let keys = secrets(&["sk-abcdef123456"]);
        assert_eq!(
            redact_secrets("key=sk-abcdef123456, again sk-abcdef123456.", &keys),
            "key=***, again ***."
        );
        assert_eq!(redact_secrets("nothing here", &keys), "nothing here");
        assert_eq!(redact_secrets("", &keys), "");
        assert_eq!(redact_secrets("sk-abcdef12345", &keys), "sk-abcdef12345");
    }

    #[test]
    fn overlapping_and_nested_secrets_leave_no_piece() {
        let keys = secrets(&["AAAABBBB", "BBBBCCCCDDDD", "CCCC1234"]);
        // Overlapping occurrences of different secrets become one mark.
        assert_eq!(redact_secrets("<AAAABBBBCCCCDDDD>", &keys), "<***>");
        // A secret inside another.
        let keys = secrets(&["token-0123456789", "0123456789"]);
        assert_eq!(redact_secrets("x token-0123456789 y", &keys), "x *** y");
        assert_eq!(redact_secrets("x 0123456789 y", &keys), "x *** y");
        // A secret that overlaps itself.
        let keys = secrets(&["abcabcab"]);
        assert_eq!(redact_secrets("-abcabcabcab-", &keys), "-***-");
        // Adjacent occurrences.
        let keys = secrets(&["12345678"]);
        assert_eq!(redact_secrets("1234567812345678", &keys), "***");
    }

    #[test]
    fn cjk_text_around_a_secret_survives() {
        let keys = secrets(&["密钥-abcdefgh"]);
        assert_eq!(
            redact_secrets("中文密钥-abcdefgh文本", &keys),
            "中文***文本"
        );
    }

    #[test]
    fn empty_secrets_are_ignored() {
        let keys = secrets(&["", "abcdefgh"]);
        assert_eq!(redact_secrets("ab abcdefgh", &keys), "ab ***");
        assert_eq!(redact_secrets("text", &[]), "text");
    }

    #[test]
    fn env_secrets_are_chosen_by_name_and_length() {
        let vars = [
            ("OPENAI_API_KEY", "sk-0123456789"),
            ("github_token", "ghp_abcdefgh"),
            ("DB_PASSWORD", "hunter22-long"),
            ("MY_SECRET", "short"),
            ("AWS_SECRET_ACCESS_KEY", "sk-0123456789"),
            ("PATH", "/usr/local/bin:/usr/bin"),
            ("HOME", "/home/someone"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        assert_eq!(
            secrets_in(vars),
            ["ghp_abcdefgh", "hunter22-long", "sk-0123456789"]
        );
    }

    #[test]
    fn debug_output_hides_the_secrets() {
        let redactor = Redactor::new(["sk-abcdef123456"]);
        let debug = format!("{redactor:?}");
        assert!(!debug.contains("sk-abc"), "{debug}");
        assert_eq!(debug, "Redactor { secrets: 1, longest: 15 }");
        assert_eq!(redactor.longest(), 15);
    }
}
