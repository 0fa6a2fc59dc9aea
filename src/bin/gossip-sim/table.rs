//! Results as tables: aligned text for people, the same cells as JSON for
//! programs.

use std::time::Duration;

use crate::json::Json;

/// One value in a table.
#[derive(Clone, Debug)]
pub enum Cell {
    /// A count.
    Int(u64),
    /// A number shown with this many decimals.
    Num(f64, usize),
    /// A share, shown as a percentage with two decimals (a fraction in JSON).
    Pct(f64),
    /// A simulated duration in seconds; None shown as "-" (null in JSON).
    Secs(Option<Duration>),
    /// Text.
    Text(String),
}

impl Cell {
    /// How it reads in a table.
    pub fn text(&self) -> String {
        match self {
            Cell::Int(n) => n.to_string(),
            Cell::Num(x, decimals) => format!("{x:.decimals$}"),
            Cell::Pct(x) => format!("{:.2}", x * 100.0),
            Cell::Secs(Some(d)) => format!("{:.1}", d.as_secs_f64()),
            Cell::Secs(None) => "-".into(),
            Cell::Text(s) => s.clone(),
        }
    }

    /// Its JSON value.
    pub fn json(&self) -> Json {
        match self {
            Cell::Int(n) => Json::from(*n),
            Cell::Num(x, _) | Cell::Pct(x) => Json::from(*x),
            Cell::Secs(d) => Json::from(d.map(|d| d.as_secs_f64())),
            Cell::Text(s) => Json::from(s.as_str()),
        }
    }

    fn is_text(&self) -> bool {
        matches!(self, Cell::Text(_))
    }
}

impl From<usize> for Cell {
    fn from(n: usize) -> Cell {
        Cell::Int(n as u64)
    }
}

impl From<u64> for Cell {
    fn from(n: u64) -> Cell {
        Cell::Int(n)
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}

/// A titled table with notes saying what was measured and how.
#[derive(Clone, Debug)]
pub struct Table {
    /// What it shows.
    pub title: String,
    /// How it was measured, one line each.
    pub notes: Vec<String>,
    /// (header, JSON key) per column.
    pub columns: Vec<(&'static str, &'static str)>,
    /// The rows, one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// An empty table.
    pub fn new(title: impl Into<String>, columns: &[(&'static str, &'static str)]) -> Table {
        Table {
            title: title.into(),
            notes: Vec::new(),
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// This table with one more note.
    pub fn note(mut self, note: impl Into<String>) -> Table {
        self.notes.push(note.into());
        self
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    /// The table as aligned text: text left-aligned, numbers right-aligned.
    pub fn render(&self) -> String {
        let texts: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(Cell::text).collect())
            .collect();
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|c| {
                let cells = texts
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|t| t.chars().count());
                cells
                    .chain([self.columns[c].0.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = format!("{}\n", self.title);
        for note in &self.notes {
            out.push_str(&format!("  {note}\n"));
        }
        let header: Vec<String> = (self.columns.iter().zip(&widths))
            .enumerate()
            .map(|(c, ((h, _), w))| align(h, *w, self.left(c)))
            .collect();
        out.push_str(&format!("  {}\n", header.join("  ").trim_end()));
        for row in &texts {
            let cells: Vec<String> = (row.iter().zip(&widths).enumerate())
                .map(|(c, (t, w))| align(t, *w, self.left(c)))
                .collect();
            out.push_str(&format!("  {}\n", cells.join("  ").trim_end()));
        }
        out
    }

    /// The table as JSON: title, notes and one object per row.
    pub fn json(&self) -> Json {
        let rows: Vec<Json> = (self.rows.iter())
            .map(|r| {
                (self.columns.iter().zip(r))
                    .fold(Json::obj(), |o, ((_, key), cell)| o.with(key, cell.json()))
            })
            .collect();
        Json::obj()
            .with("title", self.title.as_str())
            .with("notes", self.notes.clone())
            .with("rows", rows)
    }

    /// True when column `c` holds text (left-aligned).
    fn left(&self, c: usize) -> bool {
        self.rows
            .first()
            .and_then(|r| r.get(c))
            .is_some_and(Cell::is_text)
    }
}

fn align(text: &str, width: usize, left: bool) -> String {
    if left {
        format!("{text:<width$}")
    } else {
        format!("{text:>width$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let mut t = Table::new(
            "T",
            &[("name", "name"), ("count", "count"), ("share %", "share")],
        );
        t.row(vec!["a".into(), Cell::Int(5), Cell::Pct(0.5)]);
        t.row(vec!["longer".into(), Cell::Int(12345), Cell::Pct(1.0)]);
        let text = t.note("how").render();
        let expected = "\
T
  how
  name    count  share %
  a           5    50.00
  longer  12345   100.00
";
        assert_eq!(text, expected);
    }

    #[test]
    fn json_rows_use_the_keys() {
        let mut t = Table::new("T", &[("healed (s)", "healed_s")]);
        t.row(vec![Cell::Secs(None)]);
        t.row(vec![Cell::Secs(Some(Duration::from_millis(1500)))]);
        let text = t.json().render();
        assert!(text.contains("\"healed_s\": null"), "{text}");
        assert!(text.contains("\"healed_s\": 1.5"), "{text}");
    }
}
