//! Statements built at run time with many parameters (a ledger group's, a batch of nonces),
//! written in agentid's portable SQL (numbered parameters, `$1`, `$2`, ...) and bound for the
//! database at hand.
//!
//! On SQLite the numbered parameters become plain `?`s, bound in the order the text names them
//! (a number named twice is bound twice). SQLite finds a numbered parameter's name with a scan
//! of the statement's parameter list, and sqlx asks it for the name of every parameter it
//! binds: for a statement of a few hundred parameters (a group of 64 holds has 896) that is a
//! quadratic scan, which under load cost more than running the statement. A `?` has no name to
//! look up. PostgreSQL keeps the numbered text as it is.

use sqlx::any::AnyArguments;
use sqlx::query::{Query, QueryAs};
use sqlx::Any;

/// A parameter's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param<'a> {
    /// Text.
    Text(&'a str),
    /// Text or NULL.
    MaybeText(Option<&'a str>),
    /// An integer.
    Int(i64),
    /// An integer or NULL.
    MaybeInt(Option<i64>),
}

/// A query that parameters are bound to: sqlx's `Query` and `QueryAs` on [`Any`].
pub trait Bind<'q>: Sized {
    /// The query with `p` bound as its next parameter.
    fn param(self, p: Param<'q>) -> Self;
}

/// [`Bind`] for a sqlx query type (each has its own inherent `bind`).
macro_rules! bind_params {
    (impl<$($generic:ident),*> $query:ty) => {
        impl<'q, $($generic),*> Bind<'q> for $query {
            fn param(self, p: Param<'q>) -> Self {
                match p {
                    Param::Text(v) => self.bind(v),
                    Param::MaybeText(v) => self.bind(v),
                    Param::Int(v) => self.bind(v),
                    Param::MaybeInt(v) => self.bind(v),
                }
            }
        }
    };
}
bind_params!(impl<> Query<'q, Any, AnyArguments<'q>>);
bind_params!(impl<O> QueryAs<'q, Any, O, AnyArguments<'q>>);

/// A statement's text for one database, and the order its parameters are bound in.
#[derive(Debug)]
pub struct Statement {
    sql: String,
    sqlite: bool,
    /// Index into the parameters (`$n` is index `n - 1`) of each parameter bound, in turn.
    order: Vec<usize>,
}

/// Why a statement's text is not one [`Statement`] takes.
#[derive(Debug, PartialEq, Eq)]
pub struct BadStatement(&'static str);

impl std::fmt::Display for BadStatement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl Statement {
    /// `sql`, written with numbered parameters, for SQLite (`sqlite`) or PostgreSQL.
    /// Quoted text (`'...'`, `"..."`) is left as it is.
    pub fn new(sql: String, sqlite: bool) -> Result<Self, BadStatement> {
        let mut order = Vec::new();
        let mut out = String::with_capacity(sql.len());
        let mut rest = sql.as_str();
        let mut quote: Option<char> = None;
        while let Some(c) = rest.chars().next() {
            rest = &rest[c.len_utf8()..];
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '$') => {
                    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                    let n: usize = rest[..digits]
                        .parse()
                        .map_err(|_| BadStatement("a $ without a parameter number"))?;
                    let index = n
                        .checked_sub(1)
                        .ok_or(BadStatement("parameters are numbered from 1"))?;
                    order.push(index);
                    if sqlite {
                        out.push('?');
                        rest = &rest[digits..];
                        continue;
                    }
                }
                _ => {}
            }
            out.push(c);
        }
        if quote.is_some() {
            return Err(BadStatement("unterminated quote"));
        }
        if !sqlite {
            // Bound once each, by number.
            let count = order.iter().max().map_or(0, |m| m + 1);
            order = (0..count).collect();
            return Ok(Self { sql, sqlite, order });
        }
        Ok(Self {
            sql: out,
            sqlite,
            order,
        })
    }

    /// SQLite statements run in turn as one (one text, one round trip to the connection's
    /// thread), each with its parameters: the parameters of each follow those of the ones
    /// before it. `None` for PostgreSQL statements (one statement per text there), or if a
    /// statement names a parameter it is not given.
    pub fn chain<'q>(
        parts: Vec<(Statement, Vec<Param<'q>>)>,
    ) -> Option<(Statement, Vec<Param<'q>>)> {
        let mut sql = String::new();
        let mut order = Vec::new();
        let mut params = Vec::new();
        for (part, part_params) in parts {
            if !part.sqlite || part.order.iter().any(|i| *i >= part_params.len()) {
                return None;
            }
            if !sql.is_empty() {
                sql.push_str("; ");
            }
            sql.push_str(&part.sql);
            order.extend(part.order.iter().map(|i| i + params.len()));
            params.extend(part_params);
        }
        Some((
            Statement {
                sql,
                sqlite: true,
                order,
            },
            params,
        ))
    }

    /// The text to prepare.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// `query` (made from [`Statement::sql`]) with `params` bound: `params[n - 1]` is `$n`.
    /// `None` if the text names a parameter past the end of `params`.
    pub fn bind<'q, B: Bind<'q>>(&self, query: B, params: &[Param<'q>]) -> Option<B> {
        self.order
            .iter()
            .try_fold(query, |q, &i| params.get(i).map(|p| q.param(*p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_binds_in_the_order_named() {
        let s = Statement::new(
            "SELECT a FROM t WHERE b IN ($2, $3) AND c = $1 AND d = '$9' OR e IN ($2, $3)".into(),
            true,
        )
        .unwrap();
        assert_eq!(
            s.sql(),
            "SELECT a FROM t WHERE b IN (?, ?) AND c = ? AND d = '$9' OR e IN (?, ?)"
        );
        assert_eq!(s.order, vec![1, 2, 0, 1, 2]);
    }

    #[test]
    fn postgres_keeps_the_text() {
        let text = "INSERT INTO t VALUES ($2, $3), ($4, $5) ON CONFLICT DO UPDATE SET x = $1";
        let s = Statement::new(text.into(), false).unwrap();
        assert_eq!(s.sql(), text);
        assert_eq!(s.order, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn chained_statements_bind_their_own_parameters_in_turn() {
        let a = Statement::new("INSERT INTO t VALUES ($2, $1)".into(), true).unwrap();
        let b = Statement::new("UPDATE u SET x = $1".into(), true).unwrap();
        let c = Statement::new("COMMIT".into(), true).unwrap();
        let (s, params) = Statement::chain(vec![
            (a, vec![Param::Int(1), Param::Int(2)]),
            (b, vec![Param::Text("x")]),
            (c, vec![]),
        ])
        .unwrap();
        assert_eq!(
            s.sql(),
            "INSERT INTO t VALUES (?, ?); UPDATE u SET x = ?; COMMIT"
        );
        let bound: Vec<Param> = s.order.iter().map(|i| params[*i]).collect();
        assert_eq!(bound, [Param::Int(2), Param::Int(1), Param::Text("x")]);
        let pg = Statement::new("COMMIT".into(), false).unwrap();
        assert!(Statement::chain(vec![(pg, vec![])]).is_none());
        let short = Statement::new("SELECT $2".into(), true).unwrap();
        assert!(Statement::chain(vec![(short, vec![Param::Int(1)])]).is_none());
    }

    #[test]
    fn refuses_what_it_cannot_number() {
        assert!(Statement::new("SELECT $".into(), true).is_err());
        assert!(Statement::new("SELECT $0".into(), true).is_err());
        assert!(Statement::new("SELECT 'x".into(), false).is_err());
        assert!(Statement::new("SELECT 'é' || $1".into(), true).is_ok());
    }
}
