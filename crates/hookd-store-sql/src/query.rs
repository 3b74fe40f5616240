//! Statements written once for both databases.
//!
//! A statement is SQL text in which every `?` is a placeholder, and the values bound to
//! them in order. It becomes a database's own statement only when it runs: sqlx's
//! `QueryBuilder` for that database then writes the placeholders (`?` for SQLite, `$1`,
//! `$2`, … for PostgreSQL) and encodes the values. sqlx's `Any` driver cannot do this (it
//! passes `?` to PostgreSQL), and code generic over `sqlx::Database` needs a bound for
//! every bound type on every function; holding the values until the database is known
//! needs neither.
//!
//! The text must hold no other `?`: none of hookd's statements has one in a literal,
//! and [`Sql::placeholders_match`] catches a statement whose count is off.

use std::borrow::Cow;

/// A value bound to a placeholder, typed as the column expects it.
#[derive(Debug, Clone)]
pub enum Arg<'a> {
    Text(Cow<'a, str>),
    OptText(Option<Cow<'a, str>>),
    Int(i64),
    OptInt(Option<i64>),
    Int32(i32),
    OptInt32(Option<i32>),
    Bool(bool),
    Blob(&'a [u8]),
    OptBlob(Option<&'a [u8]>),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Cow::Borrowed(v))
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Cow::Borrowed(v))
    }
}
impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Arg::Text(Cow::Owned(v))
    }
}
impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::OptText(v.map(Cow::Borrowed))
    }
}
impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Arg::OptText(v.as_deref().map(Cow::Borrowed))
    }
}
impl From<Option<String>> for Arg<'_> {
    fn from(v: Option<String>) -> Self {
        Arg::OptText(v.map(Cow::Owned))
    }
}
impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::OptInt(v)
    }
}
impl From<i32> for Arg<'_> {
    fn from(v: i32) -> Self {
        Arg::Int32(v)
    }
}
impl From<Option<i32>> for Arg<'_> {
    fn from(v: Option<i32>) -> Self {
        Arg::OptInt32(v)
    }
}
impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}
impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Blob(v)
    }
}
impl<'a> From<&'a Vec<u8>> for Arg<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Arg::Blob(v)
    }
}
impl<'a> From<Option<&'a Vec<u8>>> for Arg<'a> {
    fn from(v: Option<&'a Vec<u8>>) -> Self {
        Arg::OptBlob(v.map(Vec::as_slice))
    }
}

/// A statement: text with `?` placeholders and the values for them.
#[derive(Debug, Clone, Default)]
pub struct Sql<'a> {
    text: String,
    args: Vec<Arg<'a>>,
}

impl<'a> Sql<'a> {
    pub fn new(text: impl AsRef<str>) -> Self {
        Self { text: text.as_ref().to_owned(), args: Vec::new() }
    }

    /// Binds the next placeholder (builder style, for a statement written in one piece).
    pub fn bind(mut self, v: impl Into<Arg<'a>>) -> Self {
        self.args.push(v.into());
        self
    }

    /// Appends text, which may hold placeholders.
    pub fn push(&mut self, text: impl AsRef<str>) -> &mut Self {
        self.text.push_str(text.as_ref());
        self
    }

    /// Binds the next placeholder.
    pub fn arg(&mut self, v: impl Into<Arg<'a>>) -> &mut Self {
        self.args.push(v.into());
        self
    }

    /// Appends `text` with one placeholder, and binds it.
    pub fn push_bind(&mut self, text: &str, v: impl Into<Arg<'a>>) -> &mut Self {
        self.push(text).arg(v)
    }

    /// Appends `(?, ?, …)` with a placeholder for each item, bound to it.
    pub fn push_list<T: Into<Arg<'a>>>(&mut self, items: impl IntoIterator<Item = T>) -> &mut Self {
        self.text.push('(');
        for (i, item) in items.into_iter().enumerate() {
            self.text.push_str(if i == 0 { "?" } else { ", ?" });
            self.args.push(item.into());
        }
        self.text.push(')');
        self
    }

    /// Appends `VALUES (…), (…)`: one tuple per item, with as many placeholders as
    /// `row` binds for it.
    pub fn push_values<T>(&mut self, items: impl IntoIterator<Item = T>, mut row: impl FnMut(&mut Row<'_, 'a>, T)) {
        self.text.push_str("VALUES ");
        for (i, item) in items.into_iter().enumerate() {
            self.text.push_str(if i == 0 { "(" } else { ", (" });
            let mut r = Row { sql: self, first: true };
            row(&mut r, item);
            self.text.push(')');
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the text has exactly one `?` per bound value.
    pub fn placeholders_match(&self) -> bool {
        self.text.bytes().filter(|b| *b == b'?').count() == self.args.len()
    }

    /// The text split at its placeholders, each piece with the value that follows it.
    pub(crate) fn into_parts(self) -> (Vec<String>, Vec<Arg<'a>>) {
        (self.text.split('?').map(str::to_owned).collect(), self.args)
    }
}

/// One tuple of [`Sql::push_values`].
pub struct Row<'s, 'a> {
    sql: &'s mut Sql<'a>,
    first: bool,
}

impl<'a> Row<'_, 'a> {
    /// Binds the tuple's next value.
    pub fn bind(&mut self, v: impl Into<Arg<'a>>) -> &mut Self {
        self.sql.text.push_str(if self.first { "?" } else { ", ?" });
        self.first = false;
        self.sql.args.push(v.into());
        self
    }
}

/// Builds the statement for one database with its `QueryBuilder`, which writes that
/// database's placeholders. Generic, so both databases share one conversion.
pub(crate) fn build<'a, DB>(sql: Sql<'a>) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    Cow<'a, str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<Cow<'a, str>>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i32: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<i32>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a [u8]: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<&'a [u8]>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let (pieces, args) = sql.into_parts();
    let mut pieces = pieces.into_iter();
    let mut q = sqlx::QueryBuilder::new(pieces.next().unwrap_or_default());
    for (arg, piece) in args.into_iter().zip(pieces) {
        match arg {
            Arg::Text(v) => q.push_bind(v),
            Arg::OptText(v) => q.push_bind(v),
            Arg::Int(v) => q.push_bind(v),
            Arg::OptInt(v) => q.push_bind(v),
            Arg::Int32(v) => q.push_bind(v),
            Arg::OptInt32(v) => q.push_bind(v),
            Arg::Bool(v) => q.push_bind(v),
            Arg::Blob(v) => q.push_bind(v),
            Arg::OptBlob(v) => q.push_bind(v),
        };
        q.push(piece);
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_come_out_right_for_each_database() {
        let mut q = Sql::new("UPDATE t SET a = ? WHERE id IN ");
        q.arg(1i64).push_list(["x", "y"]).push_bind(" AND b < ?", Some(2i64));
        assert!(q.placeholders_match());
        assert_eq!(build::<sqlx::Sqlite>(q.clone()).sql(), "UPDATE t SET a = ? WHERE id IN (?, ?) AND b < ?");
        assert_eq!(build::<sqlx::Postgres>(q).sql(), "UPDATE t SET a = $1 WHERE id IN ($2, $3) AND b < $4");
    }

    #[test]
    fn values_tuples_bind_each_row() {
        let mut q = Sql::new("INSERT INTO t (a, b) ");
        q.push_values([(1i64, "p"), (2, "q")], |r, (a, b)| {
            r.bind(a).bind(b);
        });
        assert!(q.placeholders_match());
        assert_eq!(build::<sqlx::Postgres>(q).sql(), "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)");
    }

    #[test]
    fn a_miscounted_statement_is_caught() {
        assert!(!Sql::new("SELECT ? + ?").bind(1i64).placeholders_match());
        assert!(Sql::new("SELECT 1").placeholders_match());
    }
}
