//! `database_query_duration_seconds{operation,table}` for every statement, from the event sqlx
//! emits when a statement finishes (target `sqlx::query`; fields `summary`, `db.statement`,
//! `elapsed_secs`). The layer carries its own filter, so the log output does not change.
//!
//! The statement is scanned in place (no copy, no allocation); one histogram handle per
//! (operation, table) is kept, so a statement costs a read lock and a hash lookup.

use std::{collections::HashMap, sync::RwLock};

use metrics::Histogram;
use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{
    Layer,
    filter::{LevelFilter, Targets},
    layer::Context,
};

const TARGET: &str = "sqlx::query";
/// Distinct tables per operation before further ones are counted as `other` (labels must stay
/// few even if dynamic SQL names tables we do not expect).
const MAX_TABLES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Select,
    Insert,
    Update,
    Delete,
    Transaction,
    Other,
}

impl Operation {
    const ALL: [Operation; 6] = [
        Operation::Select,
        Operation::Insert,
        Operation::Update,
        Operation::Delete,
        Operation::Transaction,
        Operation::Other,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Operation::Select => "select",
            Operation::Insert => "insert",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Transaction => "transaction",
            Operation::Other => "other",
        }
    }

    fn of(word: &str) -> Option<Operation> {
        let is = |k: &str| word.eq_ignore_ascii_case(k);
        Some(if is("select") || is("values") || is("table") {
            Operation::Select
        } else if is("insert") {
            Operation::Insert
        } else if is("update") {
            Operation::Update
        } else if is("delete") {
            Operation::Delete
        } else if ["begin", "commit", "rollback", "savepoint", "release", "start"]
            .iter()
            .any(|k| is(k))
        {
            Operation::Transaction
        } else {
            return None;
        })
    }
}

/// The operation and main table of a statement. The table is the first one the statement
/// names at the top level (`insert into T`, `update T`, `delete from T`, `select … from T`);
/// `none` when there is none, `subquery` / `function` when the source is not a table.
pub(crate) fn classify(sql: &str) -> (Operation, Option<&str>) {
    let mut tokens = Tokens { sql: sql.as_bytes(), pos: 0, depth: 0 };
    let Some(first) = tokens.next_top_word() else { return (Operation::Other, None) };
    let op = if first.eq_ignore_ascii_case("with") {
        // Common table expressions sit in parentheses; the statement is the first top-level
        // data keyword after them.
        loop {
            match tokens.next_top_word() {
                Some(w) => match Operation::of(w) {
                    Some(
                        op @ (Operation::Select
                        | Operation::Insert
                        | Operation::Update
                        | Operation::Delete),
                    ) => break op,
                    _ => continue,
                },
                None => return (Operation::Other, None),
            }
        }
    } else {
        match Operation::of(first) {
            Some(op) => op,
            None => return (Operation::Other, None),
        }
    };
    let table = match op {
        Operation::Insert => tokens.after_keyword("into"),
        Operation::Delete => tokens.after_keyword("from"),
        Operation::Update => tokens.table_here(),
        Operation::Select => tokens.after_keyword("from"),
        Operation::Transaction | Operation::Other => None,
    };
    (op, table)
}

/// A tiny SQL scanner: words at parenthesis depth 0, skipping string literals and comments.
struct Tokens<'a> {
    sql: &'a [u8],
    pos: usize,
    depth: usize,
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'"' | b'$')
}

impl<'a> Tokens<'a> {
    /// Advances past everything that is not a word, tracking depth; stops at a word start.
    fn skip_to_word(&mut self) -> bool {
        while let Some(&b) = self.sql.get(self.pos) {
            match b {
                b'(' => self.depth += 1,
                b')' => self.depth = self.depth.saturating_sub(1),
                b'\'' => {
                    self.pos += 1;
                    while let Some(&c) = self.sql.get(self.pos) {
                        if c == b'\'' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                b'-' if self.sql.get(self.pos + 1) == Some(&b'-') => {
                    while self.sql.get(self.pos).is_some_and(|&c| c != b'\n') {
                        self.pos += 1;
                    }
                }
                _ if is_word_byte(b) => return true,
                _ => {}
            }
            self.pos += 1;
        }
        false
    }

    fn next_word(&mut self) -> Option<&'a str> {
        if !self.skip_to_word() {
            return None;
        }
        let start = self.pos;
        while self.sql.get(self.pos).is_some_and(|&b| is_word_byte(b)) {
            self.pos += 1;
        }
        // Word bytes are ASCII, so the slice is on character boundaries.
        std::str::from_utf8(&self.sql[start..self.pos]).ok()
    }

    fn next_top_word(&mut self) -> Option<&'a str> {
        loop {
            let word = self.next_word()?;
            if self.depth == 0 {
                return Some(word);
            }
        }
    }

    fn after_keyword(&mut self, keyword: &str) -> Option<&'a str> {
        while let Some(w) = self.next_top_word() {
            if w.eq_ignore_ascii_case(keyword) {
                return self.table_here();
            }
        }
        Some("none")
    }

    /// The table named at the current position (after `from`, `into`, `update`).
    fn table_here(&mut self) -> Option<&'a str> {
        let rest = &self.sql[self.pos..];
        let skip = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        if rest.get(skip) == Some(&b'(') {
            return Some("subquery");
        }
        let mut word = self.next_word()?;
        if word.eq_ignore_ascii_case("only") || word.eq_ignore_ascii_case("lateral") {
            word = self.next_word()?;
        }
        if self.sql.get(self.pos) == Some(&b'(') {
            return Some("function");
        }
        Some(word)
    }
}

/// Keeps a label value to names we would write ourselves.
fn sane_table(table: &str) -> &str {
    let ok = !table.is_empty()
        && table.len() <= 63
        && table
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
    if ok { table } else { "other" }
}

/// The layer; add it to the subscriber with [`QueryMetrics::filter`] as its filter.
#[derive(Default)]
pub struct QueryMetrics {
    handles: [RwLock<HashMap<Box<str>, Histogram>>; Operation::ALL.len()],
}

impl QueryMetrics {
    /// Only sqlx's statement events reach this layer, at any level (sqlx logs slow
    /// statements at a higher level than the others).
    pub fn filter() -> Targets {
        Targets::new().with_target(TARGET, LevelFilter::TRACE)
    }

    fn histogram(&self, op: Operation, table: &str) -> Histogram {
        let slot = &self.handles[op as usize];
        let table = sane_table(table);
        if let Some(h) = slot.read().unwrap_or_else(|e| e.into_inner()).get(table) {
            return h.clone();
        }
        let mut map = slot.write().unwrap_or_else(|e| e.into_inner());
        let table =
            if map.len() >= MAX_TABLES && !map.contains_key(table) { "other" } else { table };
        map.entry(table.into())
            .or_insert_with(|| {
                metrics::histogram!(
                    "database_query_duration_seconds",
                    "operation" => op.as_str(),
                    "table" => table.to_string()
                )
            })
            .clone()
    }
}

impl<S: Subscriber> Layer<S> for QueryMetrics {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != TARGET {
            return;
        }
        let mut visit = Visitor { layer: self, histogram: None, secs: None };
        event.record(&mut visit);
        if let (Some(h), Some(secs)) = (visit.histogram, visit.secs) {
            h.record(secs);
        }
    }
}

struct Visitor<'l> {
    layer: &'l QueryMetrics,
    histogram: Option<Histogram>,
    secs: Option<f64>,
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        // `summary` (the first words, ending in `…` when cut short) comes first; `db.statement`
        // holds the whole statement when the summary was cut short, and is empty otherwise.
        let name = field.name();
        if self.histogram.is_some() || value.is_empty() {
            return;
        }
        let whole = match name {
            "summary" => !value.ends_with('…'),
            "db.statement" => true,
            _ => return,
        };
        let (op, table) = classify(value);
        let found = table.filter(|t| *t != "none");
        if found.is_some() || whole {
            self.histogram = Some(self.layer.histogram(op, table.unwrap_or("none")));
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.secs = Some(value);
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(sql: &str) -> (&'static str, Option<&str>) {
        let (op, table) = classify(sql);
        (op.as_str(), table)
    }

    #[test]
    fn statements_name_their_operation_and_table() {
        assert_eq!(
            c("select id, name from smartflow_main.users where id = $1"),
            ("select", Some("smartflow_main.users"))
        );
        assert_eq!(c("SELECT 1"), ("select", Some("none")));
        assert_eq!(
            c("select (select count(*) from a) as n from smartflow_ai.agents a"),
            ("select", Some("smartflow_ai.agents"))
        );
        assert_eq!(
            c("insert into smartflow_shared.jobs (kind) values ($1)"),
            ("insert", Some("smartflow_shared.jobs"))
        );
        assert_eq!(
            c("update smartflow_shared.jobs set state = 'from x'"),
            ("update", Some("smartflow_shared.jobs"))
        );
        assert_eq!(
            c("delete from smartflow_shared.sessions where id = any($1)"),
            ("delete", Some("smartflow_shared.sessions"))
        );
        assert_eq!(
            c(
                "with next as (select id from smartflow_shared.jobs for update skip locked)\n update smartflow_shared.jobs j set state = 'running' from next"
            ),
            ("update", Some("smartflow_shared.jobs"))
        );
        assert_eq!(c("select * from unnest($1::uuid[])"), ("select", Some("function")));
        assert_eq!(c("select * from (select 1) s"), ("select", Some("subquery")));
        assert_eq!(c("BEGIN"), ("transaction", None));
        assert_eq!(c("listen smartflow_jobs"), ("other", None));
        assert_eq!(c("-- note\nselect x from t"), ("select", Some("t")));
    }

    #[test]
    fn odd_table_names_do_not_become_labels() {
        assert_eq!(sane_table("smartflow_main.leads"), "smartflow_main.leads");
        assert_eq!(sane_table("\"Weird\""), "other");
        assert_eq!(sane_table(&"t".repeat(80)), "other");
    }
}
