//! A small, strict reader for Windows-INI files (SPEC §3).
//!
//! The accepted syntax, line by line:
//!
//! ```text
//! ; a comment            # also a comment
//! global_key = value     ; keys before any section header are global
//! [section]              ; a header, optionally followed by a comment
//! key = value # comment  ; a trailing comment needs whitespace before `;` or `#`
//! ```
//!
//! Whitespace around keys, values and section names is ignored and blank lines are
//! allowed. Strictness is deliberate: anything else is an error naming its line, and
//! so is a key set twice in one section, because a config file where the last
//! `degree =` silently wins is a config file that lies to its reader. A section may
//! appear more than once; its keys are merged (and still may not repeat).

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::quote;

/// Largest config file accepted, in bytes. Real files are a few hundred bytes; the
/// bound keeps a wrong path (a log, a device) from being slurped into memory.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// A parsed INI file: its `key = value` lines in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ini {
    /// Every assignment in the file, in the order it appears.
    pub entries: Vec<Entry>,
}

/// One `key = value` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The section the line is in; `None` for global keys before any header.
    pub section: Option<String>,
    /// The key, without surrounding whitespace.
    pub key: String,
    /// The value, without surrounding whitespace or trailing comment; may be empty.
    pub value: String,
    /// The 1-based line number in the file.
    pub line: usize,
}

/// Why a text is not a valid INI file. Each variant names the offending line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IniError {
    /// A line that is neither blank, a comment, a section header nor `key = value`.
    Malformed {
        /// 1-based line number.
        line: usize,
        /// The line's text, trimmed.
        text: String,
    },
    /// A `[` that is not closed by `]` on the same line.
    UnclosedSection {
        /// 1-based line number.
        line: usize,
        /// The line's text, trimmed.
        text: String,
    },
    /// A section header with other text than a comment after its `]`.
    TextAfterSection {
        /// 1-based line number.
        line: usize,
        /// The text after the `]`.
        text: String,
    },
    /// `[]`, or a section name containing whitespace or brackets.
    BadSectionName {
        /// 1-based line number.
        line: usize,
        /// The name between the brackets, trimmed.
        name: String,
    },
    /// A line `= value`, or a key containing whitespace or brackets.
    BadKey {
        /// 1-based line number.
        line: usize,
        /// The text before the `=`, trimmed.
        key: String,
    },
    /// The same key twice in one section.
    DuplicateKey {
        /// 1-based line number of the second occurrence.
        line: usize,
        /// 1-based line number of the first occurrence.
        first_line: usize,
        /// The section both lines are in; `None` for global keys.
        section: Option<String>,
        /// The repeated key.
        key: String,
    },
}

impl IniError {
    /// The 1-based line number the error is about.
    pub fn line(&self) -> usize {
        match self {
            IniError::Malformed { line, .. }
            | IniError::UnclosedSection { line, .. }
            | IniError::TextAfterSection { line, .. }
            | IniError::BadSectionName { line, .. }
            | IniError::BadKey { line, .. }
            | IniError::DuplicateKey { line, .. } => *line,
        }
    }

    /// What is wrong, without the line number (for callers that prefix `FILE:LINE:`).
    pub fn reason(&self) -> String {
        match self {
            IniError::Malformed { text, .. } => format!(
                "expected `key = value`, `[section]` or a comment, got {}",
                quote(text)
            ),
            IniError::UnclosedSection { text, .. } => {
                format!("section header {} lacks its closing `]`", quote(text))
            }
            IniError::TextAfterSection { text, .. } => format!(
                "unexpected text {} after the section header (a comment needs a space before `;` or `#`)",
                quote(text)
            ),
            IniError::BadSectionName { name, .. } if name.is_empty() => {
                "empty section name `[]`".to_string()
            }
            IniError::BadSectionName { name, .. } => format!(
                "section name {} may not contain whitespace or brackets",
                quote(name)
            ),
            IniError::BadKey { key, .. } if key.is_empty() => "empty key before `=`".to_string(),
            IniError::BadKey { key, .. } => {
                format!("key {} may not contain whitespace or brackets", quote(key))
            }
            IniError::DuplicateKey {
                first_line,
                section,
                key,
                ..
            } => match section {
                Some(section) => {
                    format!("key `{key}` is set twice in [{section}] (first on line {first_line})")
                }
                None => format!("global key `{key}` is set twice (first on line {first_line})"),
            },
        }
    }
}

impl fmt::Display for IniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line(), self.reason())
    }
}

impl std::error::Error for IniError {}

/// Why a file could not be read as config text.
#[derive(Debug)]
pub enum ReadError {
    /// Opening or reading failed.
    Io(io::Error),
    /// The file is larger than [`MAX_FILE_BYTES`]; `bytes` is at least what was seen.
    TooLarge {
        /// The size found (from metadata, or the bytes read before giving up).
        bytes: u64,
    },
    /// The file is not UTF-8 text.
    NotUtf8 {
        /// 1-based line number of the first invalid byte.
        line: usize,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(error) => write!(f, "{error}"),
            ReadError::TooLarge { bytes } => write!(
                f,
                "file is too large ({bytes} bytes; at most {MAX_FILE_BYTES} accepted)"
            ),
            ReadError::NotUtf8 { line } => write!(f, "line {line} is not valid UTF-8 text"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(error) => Some(error),
            _ => None,
        }
    }
}

/// Reads a text file of at most [`MAX_FILE_BYTES`], checking the size before
/// reading (and again while reading, for files that grow or lie about their size).
pub fn read_file(path: &Path) -> Result<String, ReadError> {
    let file = File::open(path).map_err(ReadError::Io)?;
    let size = file.metadata().map_err(ReadError::Io)?.len();
    if size > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge { bytes: size });
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge {
            bytes: bytes.len() as u64,
        });
    }
    String::from_utf8(bytes).map_err(|error| {
        let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
        let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
        ReadError::NotUtf8 { line }
    })
}

impl Ini {
    /// Parses INI text; a leading byte-order mark is skipped.
    pub fn parse(text: &str) -> Result<Ini, IniError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut entries = Vec::new();
        let mut section: Option<String> = None;
        let mut first_seen: HashMap<(Option<String>, String), usize> = HashMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            match parse_line(raw, line)? {
                Line::Blank => {}
                Line::Section(name) => section = Some(name),
                Line::Assignment { key, value } => {
                    let id = (section.clone(), key.clone());
                    if let Some(&first_line) = first_seen.get(&id) {
                        return Err(IniError::DuplicateKey {
                            line,
                            first_line,
                            section,
                            key,
                        });
                    }
                    first_seen.insert(id, line);
                    entries.push(Entry {
                        section: section.clone(),
                        key,
                        value,
                        line,
                    });
                }
            }
        }
        Ok(Ini { entries })
    }

    /// The entry for `key` in `section` (`None`: global), if the file sets it.
    pub fn get(&self, section: Option<&str>, key: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|entry| entry.section.as_deref() == section && entry.key == key)
    }
}

/// What one line of the file says.
enum Line {
    Blank,
    Section(String),
    Assignment { key: String, value: String },
}

/// Classifies one line; `line` is only used to name it in errors.
fn parse_line(raw: &str, line: usize) -> Result<Line, IniError> {
    let text = strip_trailing_comment(raw).trim();
    if text.is_empty() || text.starts_with(';') || text.starts_with('#') {
        return Ok(Line::Blank);
    }
    if let Some(header) = text.strip_prefix('[') {
        let Some((name, rest)) = header.split_once(']') else {
            return Err(IniError::UnclosedSection {
                line,
                text: text.to_string(),
            });
        };
        if !rest.trim().is_empty() {
            return Err(IniError::TextAfterSection {
                line,
                text: rest.trim().to_string(),
            });
        }
        let name = name.trim();
        if !is_plain_name(name) {
            let name = name.to_string();
            return Err(IniError::BadSectionName { line, name });
        }
        return Ok(Line::Section(name.to_string()));
    }
    let Some((key, value)) = text.split_once('=') else {
        return Err(IniError::Malformed {
            line,
            text: text.to_string(),
        });
    };
    let key = key.trim();
    if !is_plain_name(key) {
        let key = key.to_string();
        return Err(IniError::BadKey { line, key });
    }
    Ok(Line::Assignment {
        key: key.to_string(),
        value: value.trim().to_string(),
    })
}

/// Cuts a `;` or `#` comment that follows whitespace, so `a#b` stays a value.
/// A whole-line comment is left for the caller to recognise.
fn strip_trailing_comment(raw: &str) -> &str {
    let mut previous_is_space = false;
    for (index, ch) in raw.char_indices() {
        if (ch == ';' || ch == '#') && previous_is_space {
            return &raw[..index];
        }
        previous_is_space = ch.is_whitespace();
    }
    raw
}

/// Section names and keys: not empty, no whitespace, no brackets.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|ch| ch.is_whitespace() || ch == '[' || ch == ']')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Vec<(Option<String>, String, String, usize)> {
        let ini = Ini::parse(text).expect("test text is valid INI");
        ini.entries
            .into_iter()
            .map(|e| (e.section, e.key, e.value, e.line))
            .collect()
    }

    fn entry(
        section: Option<&str>,
        key: &str,
        value: &str,
        line: usize,
    ) -> (Option<String>, String, String, usize) {
        (
            section.map(str::to_string),
            key.to_string(),
            value.to_string(),
            line,
        )
    }

    #[test]
    fn keys_before_any_section_are_global_and_keep_line_numbers() {
        let got = entries("hostkey = /k.pem\n\n[gossip]\ndegree = 8\n");
        assert_eq!(
            got,
            vec![
                entry(None, "hostkey", "/k.pem", 1),
                entry(Some("gossip"), "degree", "8", 4)
            ]
        );
    }

    #[test]
    fn whole_line_comments_of_both_kinds_and_blank_lines_are_skipped() {
        let got = entries("; semicolon\n# hash\n   ; indented\n\n  \t\n[s]\n#x = 1\nk=v\n");
        assert_eq!(got, vec![entry(Some("s"), "k", "v", 8)]);
    }

    #[test]
    fn trailing_comments_after_whitespace_are_cut() {
        let got = entries("[s] ; header comment\na = 1 ; semi\nb = 2\t# hash\n");
        assert_eq!(
            got,
            vec![entry(Some("s"), "a", "1", 2), entry(Some("s"), "b", "2", 3)]
        );
    }

    #[test]
    fn comment_characters_inside_a_value_stay_part_of_it() {
        let got = entries("a = x#y;z\nb = 1;2 ; real comment\n");
        assert_eq!(
            got,
            vec![entry(None, "a", "x#y;z", 1), entry(None, "b", "1;2", 2)]
        );
    }

    #[test]
    fn whitespace_around_keys_values_and_section_names_is_ignored() {
        let got = entries("  [  gossip ]  \n\t degree\t=\t 30  \r\nempty =\nx = a b = c\n");
        assert_eq!(
            got,
            vec![
                entry(Some("gossip"), "degree", "30", 2),
                entry(Some("gossip"), "empty", "", 3),
                entry(Some("gossip"), "x", "a b = c", 4)
            ]
        );
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        assert_eq!(entries("\u{feff}a = 1\n"), vec![entry(None, "a", "1", 1)]);
    }

    #[test]
    fn a_repeated_section_merges_and_get_finds_keys_by_section() {
        let ini = Ini::parse("[a]\nx = 1\n[b]\nx = 2\n[a]\ny = 3\n").expect("valid");
        assert_eq!(ini.get(Some("a"), "y").map(|e| e.line), Some(6));
        assert_eq!(ini.get(Some("b"), "x").map(|e| e.value.as_str()), Some("2"));
        assert_eq!(ini.get(None, "x"), None);
    }

    #[test]
    fn an_unclosed_section_header_is_an_error_naming_its_line() {
        let error = Ini::parse("a = 1\n[gossip\n").unwrap_err();
        assert!(matches!(error, IniError::UnclosedSection { line: 2, .. }));
        assert_eq!(
            error.to_string(),
            "line 2: section header \"[gossip\" lacks its closing `]`"
        );
    }

    #[test]
    fn bad_section_headers_are_errors() {
        assert!(matches!(
            Ini::parse("[]"),
            Err(IniError::BadSectionName { line: 1, .. })
        ));
        assert!(matches!(
            Ini::parse("[a b]"),
            Err(IniError::BadSectionName { .. })
        ));
        assert!(matches!(
            Ini::parse("[a]b"),
            Err(IniError::TextAfterSection { .. })
        ));
        assert!(matches!(
            Ini::parse("[a];c"),
            Err(IniError::TextAfterSection { .. })
        ));
    }

    #[test]
    fn a_line_without_equals_is_an_error_naming_its_line() {
        let error = Ini::parse("[gossip]\n\ndegree 30\n").unwrap_err();
        assert_eq!(
            error,
            IniError::Malformed {
                line: 3,
                text: "degree 30".to_string()
            }
        );
        assert!(
            error
                .to_string()
                .starts_with("line 3: expected `key = value`")
        );
    }

    #[test]
    fn an_empty_key_is_an_error() {
        let error = Ini::parse("[s]\n = 5\n").unwrap_err();
        assert_eq!(
            error,
            IniError::BadKey {
                line: 2,
                key: String::new()
            }
        );
        assert_eq!(error.to_string(), "line 2: empty key before `=`");
    }

    #[test]
    fn a_key_with_inner_whitespace_is_an_error() {
        let error = Ini::parse("cache size = 5\n").unwrap_err();
        assert!(matches!(error, IniError::BadKey { line: 1, .. }));
    }

    #[test]
    fn a_duplicate_key_in_one_section_names_both_lines() {
        let error = Ini::parse("[gossip]\ndegree = 1\n[rps]\n[gossip]\ndegree = 2\n").unwrap_err();
        assert_eq!(error.line(), 5);
        assert_eq!(
            error.to_string(),
            "line 5: key `degree` is set twice in [gossip] (first on line 2)"
        );
        let global = Ini::parse("k = 1\nk = 2\n").unwrap_err();
        assert_eq!(
            global.reason(),
            "global key `k` is set twice (first on line 1)"
        );
    }

    #[test]
    fn the_same_key_in_different_sections_is_fine() {
        let got = entries("k = 0\n[a]\nk = 1\n[b]\nk = 2\n");
        assert_eq!(got.len(), 3);
    }

    fn temp_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("gossipd-ini-{}-{name}", std::process::id()))
    }

    #[test]
    fn read_file_returns_the_text_of_a_small_file() {
        let path = temp_path("small.ini");
        std::fs::write(&path, "a = 1\n").expect("temp dir is writable");
        let text = read_file(&path);
        std::fs::remove_file(&path).expect("file was just created");
        assert_eq!(text.expect("readable"), "a = 1\n");
    }

    #[test]
    fn read_file_rejects_a_file_over_the_bound() {
        let path = temp_path("large.ini");
        let size = MAX_FILE_BYTES as usize + 1;
        std::fs::write(&path, vec![b';'; size]).expect("temp dir is writable");
        let result = read_file(&path);
        std::fs::remove_file(&path).expect("file was just created");
        assert!(matches!(result, Err(ReadError::TooLarge { bytes }) if bytes == size as u64));
    }

    #[test]
    fn read_file_names_the_line_of_invalid_utf8() {
        let path = temp_path("latin1.ini");
        std::fs::write(&path, b"a = 1\nb = caf\xe9\n").expect("temp dir is writable");
        let result = read_file(&path);
        std::fs::remove_file(&path).expect("file was just created");
        assert!(matches!(result, Err(ReadError::NotUtf8 { line: 2 })));
    }

    #[test]
    fn read_file_reports_a_missing_file_as_io_error() {
        let result = read_file(&temp_path("does-not-exist.ini"));
        assert!(matches!(result, Err(ReadError::Io(ref e)) if e.kind() == io::ErrorKind::NotFound));
    }
}
