//! JQL for the simulator: parsing a query into a typed tree, evaluating it against issues, and
//! ordering results.
//!
//! Responsibilities: the grammar real Jira accepts for the clauses tandem and the clients we test
//! against send (fields, operators, functions, relative and absolute dates, `ORDER BY`), the
//! error messages Jira puts in a 400 `errorMessages` for bad queries, and fast evaluation.
//! Not here: knowing which projects, users or sprints exist (the simulator resolves those and
//! hands them over through [`JqlIssue`] values and [`EvalContext`]), and history operators
//! (`WAS`, `CHANGED`), which are rejected with an explicit error rather than approximated.
//!
//! Speed: the query is compiled once (literals are lower-cased and parsed as number, date and key
//! up front) so evaluating `=`/`IN`/date clauses allocates nothing beyond what
//! [`JqlIssue::values`] returns (`~` lower-cases each value once). For a page of results use
//! [`Query::page`], or [`Query::sort_key`] with `sort_by_cached_key`, which call `values` once
//! per issue instead of once per comparison.
//!
//! Approximations, on purpose: `~` matches when every word of the operand is a case-insensitive
//! substring of some value (Jira stems words; we do not); times are UTC (Jira uses the user's
//! zone). `key` and `id` are aliases of each other, as in Jira.
//!
//! Default order: Jira's documentation does not state the order of a search without `ORDER BY`;
//! the issue navigator and the REST search both return the newest issue first, i.e. `key DESC`
//! within a project, and that is what [`Query::order_by`] reports when the query has none.
//! An `ORDER BY` field without a direction takes Jira's per-field default: dates newest first,
//! everything else ascending. Ties are broken by key (ascending) so paging is deterministic.

use std::cmp::Ordering;
use std::fmt;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use thiserror::Error;

/// A field a clause or an `ORDER BY` item refers to. Aliases (`type`, `issuekey`, `cf[N]`,
/// `customfield_N`, any case) are resolved to one variant so the simulator matches on identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    Project,
    IssueType,
    Status,
    StatusCategory,
    Key,
    Id,
    Parent,
    Created,
    Updated,
    Resolution,
    Summary,
    Description,
    /// Jira's full-text pseudo field: summary, description, comments and text custom fields.
    Text,
    Labels,
    Component,
    FixVersion,
    Sprint,
    Assignee,
    Reporter,
    EpicLink,
    /// `cf[10016]` or `customfield_10016`.
    Custom(u64),
    /// `issue.property[key].path`: an entity property's value at a dotted path. Jira finds
    /// only properties an app declares indexed; others match nothing.
    Property {
        key: String,
        path: String,
    },
}

impl Field {
    /// The canonical JQL name, as Jira shows it in `/rest/api/3/jql/parse`.
    pub fn name(&self) -> String {
        match self {
            Field::Project => "project".into(),
            Field::IssueType => "issuetype".into(),
            Field::Status => "status".into(),
            Field::StatusCategory => "statusCategory".into(),
            Field::Key => "key".into(),
            Field::Id => "id".into(),
            Field::Parent => "parent".into(),
            Field::Created => "created".into(),
            Field::Updated => "updated".into(),
            Field::Resolution => "resolution".into(),
            Field::Summary => "summary".into(),
            Field::Description => "description".into(),
            Field::Text => "text".into(),
            Field::Labels => "labels".into(),
            Field::Component => "component".into(),
            Field::FixVersion => "fixVersion".into(),
            Field::Sprint => "sprint".into(),
            Field::Assignee => "assignee".into(),
            Field::Reporter => "reporter".into(),
            Field::EpicLink => "Epic Link".into(),
            Field::Custom(id) => format!("cf[{id}]"),
            Field::Property { key, path } if path.is_empty() => format!("issue.property[{key}]"),
            Field::Property { key, path } => format!("issue.property[{key}].{path}"),
        }
    }

    /// Resolves a field name as written in a query (case-insensitive; aliases included).
    pub fn from_name(name: &str) -> Option<Field> {
        let trimmed = name.trim();
        if trimmed.to_lowercase().starts_with("issue.property[") {
            let rest = &trimmed["issue.property[".len()..];
            let (key, tail) = rest.split_once(']')?;
            let path = match tail {
                "" => "",
                t => t.strip_prefix('.')?,
            };
            if key.is_empty() {
                return None;
            }
            return Some(Field::Property {
                key: key.to_owned(),
                path: path.to_owned(),
            });
        }
        let lower = trimmed.to_lowercase();
        let field = match lower.as_str() {
            "project" => Field::Project,
            "issuetype" | "type" => Field::IssueType,
            "status" => Field::Status,
            "statuscategory" => Field::StatusCategory,
            "key" | "issuekey" | "issue" => Field::Key,
            "id" => Field::Id,
            "parent" => Field::Parent,
            "created" | "createddate" => Field::Created,
            "updated" | "updateddate" => Field::Updated,
            "resolution" => Field::Resolution,
            "summary" => Field::Summary,
            "description" => Field::Description,
            "text" => Field::Text,
            "labels" | "label" => Field::Labels,
            "component" | "components" => Field::Component,
            "fixversion" | "fixversions" => Field::FixVersion,
            "sprint" => Field::Sprint,
            "assignee" => Field::Assignee,
            "reporter" => Field::Reporter,
            "epic link" => Field::EpicLink,
            _ => {
                if let Some(rest) = lower.strip_prefix("cf[") {
                    let digits = rest.strip_suffix(']')?;
                    return digits.parse().ok().map(Field::Custom);
                }
                if let Some(digits) = lower.strip_prefix("customfield_") {
                    return digits.parse().ok().map(Field::Custom);
                }
                return None;
            }
        };
        Some(field)
    }

    fn kind(&self) -> FieldKind {
        match self {
            Field::Created | Field::Updated => FieldKind::Date,
            Field::Summary | Field::Description | Field::Text => FieldKind::Text,
            Field::Key | Field::Id | Field::Parent | Field::EpicLink => FieldKind::IssueRef,
            Field::FixVersion => FieldKind::Version,
            Field::Labels => FieldKind::Label,
            Field::Custom(_) | Field::Property { .. } => FieldKind::Any,
            _ => FieldKind::Named,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// What operators a field accepts and how its literals are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Date,
    Text,
    IssueRef,
    Version,
    Label,
    Named,
    Any,
}

/// One value of a field of an issue. A field may yield several (project: key, id and name) and
/// a clause matches when any of them does.
#[derive(Debug, Clone, PartialEq)]
pub enum JqlValue {
    Str(String),
    Num(f64),
    Date(DateTime<Utc>),
    Null,
}

/// Implemented by the simulator's issue so the engine stays independent of its model.
///
/// `values` returns every value the field can be named by (for a user: account id, name, email
/// and display name). An empty vector or [`JqlValue::Null`] means the field is empty. The first
/// value is the one `ORDER BY` sorts on.
pub trait JqlIssue {
    fn values(&self, field: &Field) -> Vec<JqlValue>;
}

/// Facts about the moment and the caller that functions such as `now()`, `currentUser()` and
/// `openSprints()` depend on.
#[derive(Debug, Clone)]
pub struct EvalContext {
    pub now: DateTime<Utc>,
    /// Every name the calling user can be matched by is compared case-insensitively, so the
    /// simulator passes the one its issues report (account id on Cloud, user name on DC).
    pub current_user: String,
    pub open_sprint_ids: Vec<u64>,
    pub closed_sprint_ids: Vec<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Asc,
    Desc,
}

/// A query Jira rejects, with the message Jira gives in `errorMessages`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JqlError {
    /// A syntax error; `message` already carries Jira's "(line L, character C)" suffix.
    #[error("Error in the JQL Query: {0}")]
    Syntax(String),
    #[error("Field '{0}' does not exist or you do not have permission to view it.")]
    UnknownField(String),
    #[error("The operator '{operator}' is not supported by the '{field}' field.")]
    UnsupportedOperator { operator: String, field: String },
    #[error(
        "Operator '{operator}' does not support the non-list value '{value}' for field '{field}'."
    )]
    NonListValue {
        operator: String,
        value: String,
        field: String,
    },
    #[error(
        "Operator '{operator}' does not support the list value '{value}' for field '{field}'."
    )]
    ListValue {
        operator: String,
        value: String,
        field: String,
    },
    #[error("Date value '{value}' for field '{field}' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.")]
    InvalidDate { value: String, field: String },
    #[error("Unable to find JQL function '{0}'.")]
    UnknownFunction(String),
    #[error("Function '{function}' expected '{expected}' arguments but received '{received}'.")]
    FunctionArity {
        function: String,
        expected: String,
        received: usize,
    },
    #[error("Function '{function}' cannot accept argument '{argument}'.")]
    FunctionArgument { function: String, argument: String },
    /// Real Jira supports history searches; the simulator does not keep field history.
    #[error("The operator '{0}' is not supported by the simulator: it keeps no field history.")]
    HistoryOperator(String),
}

/// A parsed, validated query.
#[derive(Debug, Clone)]
pub struct Query {
    root: Option<Expr>,
    order_by: Vec<(Field, SortOrder)>,
}

const DEFAULT_ORDER: &[(Field, SortOrder)] = &[(Field::Key, SortOrder::Desc)];

impl Query {
    /// The literal issue keys or ids the query names in `key`/`issuekey`/`issue`/`id`
    /// clauses, with the field as written: Jira validates that each exists (and that the
    /// caller may see it) before it searches, unless asked not to (`validateQuery`).
    pub fn issue_refs(&self) -> Vec<(String, String)> {
        fn operand(field: &Field, o: &Operand, out: &mut Vec<(String, String)>) {
            match o {
                Operand::Lit(l) => out.push((field.name(), l.raw.clone())),
                Operand::List(items) => items.iter().for_each(|i| operand(field, i, out)),
                Operand::Func(_) | Operand::Empty => {}
            }
        }
        fn walk(e: &Expr, out: &mut Vec<(String, String)>) {
            match e {
                Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| walk(e, out)),
                Expr::Not(e) => walk(e, out),
                Expr::Clause(c) => {
                    if matches!(c.field, Field::Key | Field::Id) {
                        operand(&c.field, &c.operand, out);
                    }
                }
            }
        }
        let mut out = Vec::new();
        if let Some(root) = &self.root {
            walk(root, &mut out);
        }
        out
    }
}

impl Query {
    /// The ids or keys of every issue the query can match, when its restriction is (or is
    /// ANDed with) a `key`/`id` `=`/`IN` clause of literals; `None` otherwise. Why: a client
    /// looking issues up by key (`key in (…)`) would otherwise make the simulator evaluate the
    /// query over every issue, which at 100,000 issues is what a bulk import waited on. The
    /// query still decides: the caller evaluates it on these issues only.
    pub fn key_candidates(&self) -> Option<Vec<String>> {
        fn lits(o: &Operand, out: &mut Vec<String>) -> bool {
            match o {
                Operand::Lit(l) => {
                    out.push(l.raw.clone());
                    true
                }
                Operand::List(items) => items.iter().all(|i| lits(i, out)),
                Operand::Func(_) | Operand::Empty => false,
            }
        }
        fn walk(e: &Expr) -> Option<Vec<String>> {
            match e {
                Expr::Clause(c)
                    if matches!(c.field, Field::Key | Field::Id)
                        && matches!(c.op, Op::Eq | Op::In) =>
                {
                    let mut out = Vec::new();
                    lits(&c.operand, &mut out).then_some(out)
                }
                Expr::And(items) => items.iter().find_map(walk),
                _ => None,
            }
        }
        self.root.as_ref().and_then(walk)
    }
}

/// Parses a query, resolving only built-in field names.
pub fn parse(q: &str) -> Result<Query, JqlError> {
    parse_with(q, &|_| None)
}

/// Parses a query; names that are not built-in fields are passed to `custom` so the simulator
/// can resolve custom field names such as `"Story Points"` to `Field::Custom(10016)`.
pub fn parse_with(q: &str, custom: &dyn Fn(&str) -> Option<Field>) -> Result<Query, JqlError> {
    let tokens = lex(q)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        custom,
    };
    p.query()
}

impl Query {
    /// Whether the issue satisfies the query's restriction (a query without one matches all).
    pub fn matches(&self, issue: &dyn JqlIssue, ctx: &EvalContext) -> bool {
        match &self.root {
            None => true,
            Some(e) => e.eval(issue, ctx),
        }
    }

    /// The effective order: the query's own `ORDER BY`, or Jira's default (`key DESC`).
    pub fn order_by(&self) -> &[(Field, SortOrder)] {
        if self.order_by.is_empty() {
            DEFAULT_ORDER
        } else {
            &self.order_by
        }
    }

    /// Whether the query has a search restriction; Cloud's `/search/jql` refuses unbounded ones.
    pub fn is_bounded(&self) -> bool {
        self.root.is_some()
    }

    /// Compares two issues by [`Query::order_by`], ties broken by key ascending.
    pub fn compare(&self, a: &dyn JqlIssue, b: &dyn JqlIssue) -> Ordering {
        self.sort_key(a).cmp(&self.sort_key(b))
    }

    /// A precomputed key whose `Ord` is [`Query::compare`]'s order; use it with
    /// `sort_by_cached_key` when sorting many issues.
    pub fn sort_key(&self, issue: &dyn JqlIssue) -> SortKey {
        let order = self.order_by();
        let part =
            |(f, o): &(Field, SortOrder)| (SortVal::of(f, issue.values(f).into_iter().next()), *o);
        let first = order
            .first()
            .map(part)
            .unwrap_or((SortVal::Null, SortOrder::Asc));
        let mut rest: Vec<(SortVal, SortOrder)> = order.iter().skip(1).map(part).collect();
        // Keys are unique, so a trailing key already orders every pair.
        if !matches!(order.last(), Some((Field::Key, _))) {
            let tie = SortVal::of(&Field::Key, issue.values(&Field::Key).into_iter().next());
            rest.push((tie, SortOrder::Asc));
        }
        SortKey { first, rest }
    }

    /// One page of a search: the matching issues in order, skipping `start`, at most `max`,
    /// with the number of matches. Only the issues up to the page's end are fully sorted, so a
    /// first page over 100,000 issues costs a filter and a selection, not a full sort.
    pub fn page<'a, T: JqlIssue>(
        &self,
        issues: impl IntoIterator<Item = &'a T>,
        ctx: &EvalContext,
        start: usize,
        max: usize,
    ) -> Page<'a, T> {
        let mut hits: Vec<(SortKey, &'a T)> = issues
            .into_iter()
            .filter(|i| self.matches(*i, ctx))
            .map(|i| (self.sort_key(i), i))
            .collect();
        let total = hits.len();
        let end = start.saturating_add(max).min(total);
        if end == 0 {
            hits.clear();
        } else if end < total {
            hits.select_nth_unstable_by(end - 1, |a, b| a.0.cmp(&b.0));
            hits.truncate(end);
        }
        hits.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let issues = hits
            .into_iter()
            .skip(start)
            .take(max)
            .map(|(_, i)| i)
            .collect();
        Page { issues, total }
    }
}

/// See [`Query::page`].
#[derive(Debug)]
pub struct Page<'a, T> {
    pub issues: Vec<&'a T>,
    /// Matches of the whole query, not of the page (Data Center's `total`).
    pub total: usize,
}

/// See [`Query::sort_key`].
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// Kept out of the vector so the common one-field order allocates nothing for the key.
    first: (SortVal, SortOrder),
    rest: Vec<(SortVal, SortOrder)>,
}

impl Eq for SortKey {}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> Ordering {
        let mine = std::iter::once(&self.first).chain(&self.rest);
        let theirs = std::iter::once(&other.first).chain(&other.rest);
        for ((a, order), (b, _)) in mine.zip(theirs) {
            let c = a.cmp_asc(b);
            let c = match order {
                SortOrder::Asc => c,
                SortOrder::Desc => c.reverse(),
            };
            if c != Ordering::Equal {
                return c;
            }
        }
        Ordering::Equal
    }
}

/// One sortable value. Empty sorts after everything in ascending order, as in Jira.
#[derive(Debug, Clone, PartialEq)]
enum SortVal {
    Num(f64),
    Date(i64),
    Key(String, u64),
    Str(String),
    Null,
}

impl SortVal {
    fn of(field: &Field, v: Option<JqlValue>) -> SortVal {
        match v {
            None | Some(JqlValue::Null) => SortVal::Null,
            Some(JqlValue::Num(n)) => SortVal::Num(n),
            Some(JqlValue::Date(d)) => SortVal::Date(d.timestamp_millis()),
            Some(JqlValue::Str(s)) => {
                if field.kind() == FieldKind::IssueRef {
                    if let Some((p, n)) = split_key(&s) {
                        let len = p.len();
                        let mut project = s;
                        project.truncate(len);
                        project.make_ascii_uppercase();
                        return SortVal::Key(project, n);
                    }
                }
                if s.is_ascii() {
                    let mut s = s;
                    s.make_ascii_lowercase();
                    SortVal::Str(s)
                } else {
                    SortVal::Str(s.to_lowercase())
                }
            }
        }
    }

    fn rank(&self) -> u8 {
        match self {
            SortVal::Num(_) => 0,
            SortVal::Date(_) => 1,
            SortVal::Key(..) => 2,
            SortVal::Str(_) => 3,
            SortVal::Null => 4,
        }
    }

    fn cmp_asc(&self, other: &SortVal) -> Ordering {
        match (self, other) {
            (SortVal::Num(a), SortVal::Num(b)) => a.total_cmp(b),
            (SortVal::Date(a), SortVal::Date(b)) => a.cmp(b),
            (SortVal::Key(pa, na), SortVal::Key(pb, nb)) => pa.cmp(pb).then(na.cmp(nb)),
            (SortVal::Str(a), SortVal::Str(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

/// `ABC-123` into (`ABC`, 123).
fn split_key(s: &str) -> Option<(&str, u64)> {
    let (p, n) = s.rsplit_once('-')?;
    if p.is_empty() || !p.chars().next()?.is_ascii_alphabetic() {
        return None;
    }
    Some((p, n.parse().ok()?))
}

// ---------------------------------------------------------------------------------------------
// Compiled tree and evaluation

#[derive(Debug, Clone)]
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Clause(Clause),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    NotContains,
    In,
    NotIn,
    Is,
    IsNot,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "~",
            Op::NotContains => "!~",
            Op::In => "in",
            Op::NotIn => "not in",
            Op::Is => "is",
            Op::IsNot => "is not",
        }
    }
}

#[derive(Debug, Clone)]
struct Clause {
    field: Field,
    op: Op,
    operand: Operand,
}

#[derive(Debug, Clone)]
enum Operand {
    Lit(Lit),
    Func(Func),
    Empty,
    List(Vec<Operand>),
}

/// A literal with every reading precomputed, so evaluation never parses.
#[derive(Debug, Clone)]
struct Lit {
    raw: String,
    lower: String,
    ascii: bool,
    num: Option<f64>,
    date: Option<DateSpec>,
    key: Option<(String, u64)>,
    /// Lower-cased words for `~`, wildcards removed.
    terms: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
enum DateSpec {
    Abs(DateTime<Utc>),
    Rel(Duration),
}

impl DateSpec {
    fn resolve(self, ctx: &EvalContext) -> DateTime<Utc> {
        match self {
            DateSpec::Abs(d) => d,
            DateSpec::Rel(d) => shift(ctx.now, d),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Func {
    CurrentUser,
    Now,
    StartOfDay(Duration),
    EndOfDay(Duration),
    OpenSprints,
    ClosedSprints,
}

impl Lit {
    fn new(raw: String) -> Lit {
        let lower = raw.to_lowercase();
        let num = raw.trim().parse::<f64>().ok().filter(|n| n.is_finite());
        let date = parse_date(&raw);
        let key = split_key(&raw).map(|(p, n)| (p.to_ascii_uppercase(), n));
        let terms = lower
            .split_whitespace()
            .map(|t| t.trim_matches(|c| c == '*' || c == '?').to_string())
            .filter(|t| !t.is_empty())
            .collect();
        Lit {
            ascii: raw.is_ascii(),
            raw,
            lower,
            num,
            date,
            key,
            terms,
        }
    }
}

/// `d + by`, clamped to the representable range: a period of a million years is valid JQL and
/// must not overflow.
fn shift(d: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    d.checked_add_signed(by)
        .unwrap_or(if by < Duration::zero() {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        })
}

fn day_start(d: DateTime<Utc>) -> DateTime<Utc> {
    Utc.from_utc_datetime(&d.date_naive().and_time(NaiveTime::MIN))
}

/// A single resolved operand value, borrowed from the query or the context: no allocation.
#[derive(Clone, Copy)]
enum Resolved<'a> {
    Lit(&'a Lit),
    User(&'a str),
    Date(DateTime<Utc>),
    SprintIds(&'a [u64]),
}

impl Operand {
    /// Calls `f` with each value this operand stands for; stops early when `f` returns true.
    fn any<'a>(&'a self, ctx: &'a EvalContext, f: &mut dyn FnMut(Resolved<'a>) -> bool) -> bool {
        match self {
            Operand::Lit(l) => f(Resolved::Lit(l)),
            Operand::Empty => false,
            Operand::List(items) => items.iter().any(|i| i.any(ctx, f)),
            Operand::Func(func) => match *func {
                Func::CurrentUser => f(Resolved::User(&ctx.current_user)),
                Func::Now => f(Resolved::Date(ctx.now)),
                Func::StartOfDay(off) => f(Resolved::Date(shift(day_start(ctx.now), off))),
                Func::EndOfDay(off) => f(Resolved::Date(shift(
                    day_start(ctx.now),
                    Duration::days(1) - Duration::milliseconds(1) + off,
                ))),
                Func::OpenSprints => f(Resolved::SprintIds(&ctx.open_sprint_ids)),
                Func::ClosedSprints => f(Resolved::SprintIds(&ctx.closed_sprint_ids)),
            },
        }
    }

    fn has_empty(&self) -> bool {
        match self {
            Operand::Empty => true,
            Operand::List(items) => items.iter().any(Operand::has_empty),
            _ => false,
        }
    }
}

fn eq_ci(value: &str, lit: &Lit) -> bool {
    if lit.ascii && value.is_ascii() {
        value.eq_ignore_ascii_case(&lit.raw)
    } else {
        value.to_lowercase() == lit.lower
    }
}

fn value_eq(field: &Field, v: &JqlValue, r: Resolved<'_>, ctx: &EvalContext) -> bool {
    match (v, r) {
        (JqlValue::Null, _) => false,
        (JqlValue::Str(s), Resolved::Lit(l)) => {
            if eq_ci(s, l) {
                return true;
            }
            // Issue keys: `demo-01` names the same issue as `DEMO-1`.
            field.kind() == FieldKind::IssueRef
                && matches!((split_key(s), &l.key), (Some((p, n)), Some((lp, ln))) if n == *ln && p.eq_ignore_ascii_case(lp))
        }
        (JqlValue::Str(s), Resolved::User(u)) => {
            s.eq_ignore_ascii_case(u) || s.to_lowercase() == u.to_lowercase()
        }
        (JqlValue::Num(n), Resolved::Lit(l)) => l.num == Some(*n),
        (JqlValue::Num(n), Resolved::SprintIds(ids)) => ids.iter().any(|id| *id as f64 == *n),
        (JqlValue::Date(d), Resolved::Lit(l)) => l.date.is_some_and(|spec| spec.resolve(ctx) == *d),
        (JqlValue::Date(d), Resolved::Date(x)) => *d == x,
        _ => false,
    }
}

fn value_cmp(field: &Field, v: &JqlValue, r: Resolved<'_>, ctx: &EvalContext) -> Option<Ordering> {
    match (v, r) {
        (JqlValue::Num(n), Resolved::Lit(l)) => l.num.and_then(|x| n.partial_cmp(&x)),
        (JqlValue::Date(d), Resolved::Lit(l)) => l.date.map(|spec| d.cmp(&spec.resolve(ctx))),
        (JqlValue::Date(d), Resolved::Date(x)) => Some(d.cmp(&x)),
        (JqlValue::Str(s), Resolved::Lit(l)) => {
            if field.kind() == FieldKind::IssueRef {
                let (p, n) = split_key(s)?;
                let (lp, ln) = l.key.as_ref()?;
                // Keys of another project are not comparable, as in Jira.
                if !p.eq_ignore_ascii_case(lp) {
                    return None;
                }
                Some(n.cmp(ln))
            } else {
                Some(s.to_lowercase().as_str().cmp(l.lower.as_str()))
            }
        }
        _ => None,
    }
}

fn contains_ci(hay: &str, needle_lower: &str) -> bool {
    // One lower-cased copy and std's substring search beat a byte-window scan several times.
    if hay.is_ascii() {
        hay.to_ascii_lowercase().contains(needle_lower)
    } else {
        hay.to_lowercase().contains(needle_lower)
    }
}

fn is_empty(values: &[JqlValue]) -> bool {
    values.iter().all(|v| matches!(v, JqlValue::Null))
}

impl Expr {
    fn eval(&self, issue: &dyn JqlIssue, ctx: &EvalContext) -> bool {
        match self {
            Expr::And(items) => items.iter().all(|e| e.eval(issue, ctx)),
            Expr::Or(items) => items.iter().any(|e| e.eval(issue, ctx)),
            Expr::Not(e) => !e.eval(issue, ctx),
            Expr::Clause(c) => c.eval(issue, ctx),
        }
    }
}

impl Clause {
    fn eval(&self, issue: &dyn JqlIssue, ctx: &EvalContext) -> bool {
        let mut values = issue.values(&self.field);
        // In Jira `id` and `key` are aliases: `key = 10001` and `id = DEMO-1` both work.
        match self.field {
            Field::Key => values.extend(issue.values(&Field::Id)),
            Field::Id => values.extend(issue.values(&Field::Key)),
            _ => {}
        }
        let field = &self.field;
        let empty = is_empty(&values);
        let any_eq = |values: &[JqlValue]| {
            values
                .iter()
                .any(|v| self.operand.any(ctx, &mut |r| value_eq(field, v, r, ctx)))
        };
        let any_cmp = |want: fn(Ordering) -> bool| {
            values.iter().any(|v| {
                self.operand
                    .any(ctx, &mut |r| value_cmp(field, v, r, ctx).is_some_and(want))
            })
        };
        match self.op {
            Op::Is | Op::Eq if matches!(self.operand, Operand::Empty) => empty,
            Op::IsNot | Op::Ne if matches!(self.operand, Operand::Empty) => !empty,
            Op::Eq => any_eq(&values),
            Op::In => (empty && self.operand.has_empty()) || any_eq(&values),
            Op::Ne => !empty && !any_eq(&values),
            Op::NotIn => !empty && !any_eq(&values),
            Op::Lt => any_cmp(|o| o == Ordering::Less),
            Op::Le => any_cmp(|o| o != Ordering::Greater),
            Op::Gt => any_cmp(|o| o == Ordering::Greater),
            Op::Ge => any_cmp(|o| o != Ordering::Less),
            Op::Contains => self.text_match(&values),
            Op::NotContains => !empty && !self.text_match(&values),
            // IS / IS NOT only take EMPTY, which the parser enforces.
            Op::Is | Op::IsNot => false,
        }
    }

    /// Every word of the operand appears in some value (Jira's `~` is word based; a substring
    /// test is the simulator's approximation, stemming aside).
    fn text_match(&self, values: &[JqlValue]) -> bool {
        let Operand::Lit(l) = &self.operand else {
            return false;
        };
        if l.terms.is_empty() {
            return false;
        }
        l.terms.iter().all(|t| {
            values.iter().any(|v| match v {
                JqlValue::Str(s) => contains_ci(s, t),
                _ => false,
            })
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Dates

/// Reads Jira's date literals: `yyyy-MM-dd`, `yyyy/MM/dd`, either with ` HH:mm`, and periods such
/// as `-7d`, `4w 2d`, `-30m` (relative to now).
fn parse_date(s: &str) -> Option<DateSpec> {
    let t = s.trim();
    let norm = t.replace('/', "-");
    if let Ok(d) = NaiveDate::parse_from_str(&norm, "%Y-%m-%d") {
        return Some(DateSpec::Abs(
            Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN)),
        ));
    }
    if let Ok(d) = NaiveDateTime::parse_from_str(&norm, "%Y-%m-%d %H:%M") {
        return Some(DateSpec::Abs(Utc.from_utc_datetime(&d)));
    }
    parse_period(t).map(DateSpec::Rel)
}

fn parse_period(s: &str) -> Option<Duration> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let mut total = Duration::zero();
    let mut any = false;
    for part in body.split_whitespace() {
        let unit = part.chars().last()?;
        let n: i64 = part[..part.len() - unit.len_utf8()].parse().ok()?;
        let d = match unit {
            'w' => Duration::try_weeks(n)?,
            'd' => Duration::try_days(n)?,
            'h' => Duration::try_hours(n)?,
            'm' => Duration::try_minutes(n)?,
            _ => return None,
        };
        total = total.checked_add(&d)?;
        any = true;
    }
    if !any {
        return None;
    }
    Some(if neg { -total } else { total })
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Comma,
    Op(&'static str),
    /// A word (unquoted) or a string (quoted).
    Word {
        text: String,
        quoted: bool,
    },
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
    col: usize,
}

impl Token {
    fn at(&self) -> String {
        format!("(line {}, character {})", self.line, self.col)
    }

    /// How Jira quotes a token in "but got 'X'".
    fn shown(&self) -> String {
        match &self.tok {
            Tok::LParen => "(".into(),
            Tok::RParen => ")".into(),
            Tok::Comma => ",".into(),
            Tok::Op(o) => (*o).into(),
            Tok::Word { text, .. } => text.clone(),
            Tok::Eof => "EOF".into(),
        }
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.tok, Tok::Word { text, quoted: false } if text.eq_ignore_ascii_case(kw))
    }
}

fn is_word_char(c: char) -> bool {
    !c.is_whitespace()
        && !matches!(
            c,
            '(' | ')' | ',' | '"' | '\'' | '=' | '!' | '<' | '>' | '~' | '&' | '|'
        )
}

fn lex(q: &str) -> Result<Vec<Token>, JqlError> {
    let chars: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    let advance = |i: &mut usize, line: &mut usize, col: &mut usize, c: char| {
        *i += 1;
        if c == '\n' {
            *line += 1;
            *col = 1;
        } else {
            *col += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            advance(&mut i, &mut line, &mut col, c);
            continue;
        }
        let (tl, tc) = (line, col);
        let next = chars.get(i + 1).copied();
        let simple = match (c, next) {
            ('(', _) => Some((Tok::LParen, 1)),
            (')', _) => Some((Tok::RParen, 1)),
            (',', _) => Some((Tok::Comma, 1)),
            ('!', Some('=')) => Some((Tok::Op("!="), 2)),
            ('!', Some('~')) => Some((Tok::Op("!~"), 2)),
            ('!', _) => Some((Tok::Op("!"), 1)),
            ('<', Some('=')) => Some((Tok::Op("<="), 2)),
            ('>', Some('=')) => Some((Tok::Op(">="), 2)),
            ('<', _) => Some((Tok::Op("<"), 1)),
            ('>', _) => Some((Tok::Op(">"), 1)),
            ('=', _) => Some((Tok::Op("="), 1)),
            ('~', _) => Some((Tok::Op("~"), 1)),
            ('&', Some('&')) => Some((Tok::Op("&&"), 2)),
            ('|', Some('|')) => Some((Tok::Op("||"), 2)),
            ('&', _) => Some((Tok::Op("&&"), 1)),
            ('|', _) => Some((Tok::Op("||"), 1)),
            _ => None,
        };
        if let Some((tok, len)) = simple {
            for _ in 0..len {
                let ch = chars[i];
                advance(&mut i, &mut line, &mut col, ch);
            }
            out.push(Token {
                tok,
                line: tl,
                col: tc,
            });
            continue;
        }
        if c == '"' || c == '\'' {
            advance(&mut i, &mut line, &mut col, c);
            let mut text = String::new();
            let mut closed = false;
            while i < chars.len() {
                let ch = chars[i];
                advance(&mut i, &mut line, &mut col, ch);
                if ch == c {
                    closed = true;
                    break;
                }
                if ch == '\\' {
                    if let Some(&esc) = chars.get(i) {
                        advance(&mut i, &mut line, &mut col, esc);
                        text.push(match esc {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                        continue;
                    }
                }
                text.push(ch);
            }
            if !closed {
                return Err(JqlError::Syntax(format!(
                    "The quoted string '{text}' has not been completed. (line {tl}, character {tc})"
                )));
            }
            out.push(Token {
                tok: Tok::Word { text, quoted: true },
                line: tl,
                col: tc,
            });
            continue;
        }
        let mut text = String::new();
        while i < chars.len() && is_word_char(chars[i]) {
            let ch = chars[i];
            text.push(ch);
            advance(&mut i, &mut line, &mut col, ch);
        }
        out.push(Token {
            tok: Tok::Word {
                text,
                quoted: false,
            },
            line: tl,
            col: tc,
        });
    }
    out.push(Token {
        tok: Tok::Eof,
        line,
        col,
    });
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Parser

const VALID_OPERATORS: &str = "The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'.";

/// Words that cannot be an unquoted field name or value.
const RESERVED: &[&str] = &[
    "and", "or", "not", "in", "is", "empty", "null", "order", "by", "was", "changed",
];

struct Parser<'c> {
    tokens: Vec<Token>,
    pos: usize,
    custom: &'c dyn Fn(&str) -> Option<Field>,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        let last = self.tokens.len() - 1;
        &self.tokens[self.pos.min(last)]
    }

    fn peek_at(&self, n: usize) -> &Token {
        let last = self.tokens.len() - 1;
        &self.tokens[(self.pos + n).min(last)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn syntax(&self, msg: String) -> JqlError {
        JqlError::Syntax(msg)
    }

    fn query(&mut self) -> Result<Query, JqlError> {
        let root = if self.peek().tok == Tok::Eof || self.at_order_by() {
            None
        } else {
            Some(self.or_expr()?)
        };
        let mut order_by = Vec::new();
        if self.at_order_by() {
            self.bump();
            let by = self.bump();
            if !by.is_kw("by") {
                return Err(self.syntax(format!(
                    "Expecting 'by' but got '{}'. {}",
                    by.shown(),
                    by.at()
                )));
            }
            loop {
                let t = self.bump();
                let name = match &t.tok {
                    Tok::Word { text, .. } => text.clone(),
                    Tok::Eof => {
                        return Err(self.syntax(format!(
                            "Expecting a field name at the end of the query. {}",
                            t.at()
                        )))
                    }
                    _ => {
                        return Err(self.syntax(format!(
                            "Expecting a field name but got '{}'. {}",
                            t.shown(),
                            t.at()
                        )))
                    }
                };
                let field = self.field(&name)?;
                let order = if self.peek().is_kw("asc") {
                    self.bump();
                    SortOrder::Asc
                } else if self.peek().is_kw("desc") {
                    self.bump();
                    SortOrder::Desc
                } else {
                    default_direction(&field)
                };
                order_by.push((field, order));
                if self.peek().tok == Tok::Comma {
                    self.bump();
                    continue;
                }
                break;
            }
        }
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            return Err(self.syntax(format!(
                "Expecting either 'OR' or 'AND' but got '{}'. {}",
                t.shown(),
                t.at()
            )));
        }
        Ok(Query { root, order_by })
    }

    fn at_order_by(&self) -> bool {
        self.peek().is_kw("order") && self.peek_at(1).is_kw("by")
    }

    fn or_expr(&mut self) -> Result<Expr, JqlError> {
        let mut items = vec![self.and_expr()?];
        while self.peek().is_kw("or") || self.peek().tok == Tok::Op("||") {
            self.bump();
            items.push(self.and_expr()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, JqlError> {
        let mut items = vec![self.not_expr()?];
        while self.peek().is_kw("and") || self.peek().tok == Tok::Op("&&") {
            self.bump();
            items.push(self.not_expr()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn not_expr(&mut self) -> Result<Expr, JqlError> {
        if self.peek().is_kw("not") || self.peek().tok == Tok::Op("!") {
            self.bump();
            return Ok(Expr::Not(Box::new(self.not_expr()?)));
        }
        if self.peek().tok == Tok::LParen {
            self.bump();
            let e = self.or_expr()?;
            let t = self.bump();
            if t.tok != Tok::RParen {
                return Err(self.syntax(match t.tok {
                    Tok::Eof => format!("Expecting ')' before the end of the query. {}", t.at()),
                    _ => format!("Expecting ')' but got '{}'. {}", t.shown(), t.at()),
                }));
            }
            return Ok(e);
        }
        self.clause().map(Expr::Clause)
    }

    fn field(&self, name: &str) -> Result<Field, JqlError> {
        Field::from_name(name)
            .or_else(|| (self.custom)(name))
            .ok_or_else(|| JqlError::UnknownField(name.to_string()))
    }

    fn clause(&mut self) -> Result<Clause, JqlError> {
        let t = self.bump();
        let name = match &t.tok {
            Tok::Word { text, quoted } if *quoted || !is_reserved(text) => text.clone(),
            Tok::Eof => {
                return Err(self.syntax(format!(
                    "Expecting a field name at the end of the query. {}",
                    t.at()
                )))
            }
            _ => {
                return Err(self.syntax(format!(
                    "Expecting a field name but got '{}'. {}",
                    t.shown(),
                    t.at()
                )))
            }
        };
        let op = self.operator()?;
        // The field is resolved after the operator so that "invalid query" reports the missing
        // operator first, as Jira does.
        let field = self.field(&name)?;
        let operand = self.operand(op)?;
        validate(&name, &field, op, &operand)?;
        Ok(Clause { field, op, operand })
    }

    fn operator(&mut self) -> Result<Op, JqlError> {
        let t = self.bump();
        let op = match &t.tok {
            Tok::Op("=") => Op::Eq,
            Tok::Op("!=") => Op::Ne,
            Tok::Op("<") => Op::Lt,
            Tok::Op("<=") => Op::Le,
            Tok::Op(">") => Op::Gt,
            Tok::Op(">=") => Op::Ge,
            Tok::Op("~") => Op::Contains,
            Tok::Op("!~") => Op::NotContains,
            _ if t.is_kw("in") => Op::In,
            _ if t.is_kw("not") && self.peek().is_kw("in") => {
                self.bump();
                Op::NotIn
            }
            _ if t.is_kw("is") => {
                if self.peek().is_kw("not") {
                    self.bump();
                    Op::IsNot
                } else {
                    Op::Is
                }
            }
            _ if t.is_kw("was") || t.is_kw("changed") => {
                return Err(JqlError::HistoryOperator(t.shown().to_lowercase()))
            }
            Tok::Eof => {
                return Err(self.syntax(format!(
                    "Expecting operator before the end of the query. {VALID_OPERATORS} {}",
                    t.at()
                )))
            }
            _ => {
                return Err(self.syntax(format!(
                    "Expecting operator but got '{}'. {VALID_OPERATORS} {}",
                    t.shown(),
                    t.at()
                )))
            }
        };
        Ok(op)
    }

    fn operand(&mut self, op: Op) -> Result<Operand, JqlError> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::LParen => {
                self.bump();
                let mut items = Vec::new();
                loop {
                    items.push(self.single_operand()?);
                    let sep = self.bump();
                    match sep.tok {
                        Tok::Comma => continue,
                        Tok::RParen => break,
                        Tok::Eof => {
                            return Err(self.syntax(format!(
                                "Expecting ')' before the end of the query. {}",
                                sep.at()
                            )))
                        }
                        _ => {
                            return Err(self.syntax(format!(
                                "Expecting ',' or ')' but got '{}'. {}",
                                sep.shown(),
                                sep.at()
                            )))
                        }
                    }
                }
                let _ = op;
                Ok(Operand::List(items))
            }
            _ => self.single_operand(),
        }
    }

    fn single_operand(&mut self) -> Result<Operand, JqlError> {
        let t = self.bump();
        match &t.tok {
            Tok::Word { text, quoted: false } if text.eq_ignore_ascii_case("empty") || text.eq_ignore_ascii_case("null") => {
                Ok(Operand::Empty)
            }
            Tok::Word { text, quoted: false } if self.peek().tok == Tok::LParen => {
                self.bump();
                let mut args = Vec::new();
                if self.peek().tok == Tok::RParen {
                    self.bump();
                } else {
                    loop {
                        let a = self.bump();
                        match a.tok {
                            Tok::Word { text, .. } => args.push(text),
                            Tok::Eof => {
                                return Err(self.syntax(format!(
                                    "Expecting ')' before the end of the query. {}",
                                    a.at()
                                )))
                            }
                            _ => {
                                return Err(self.syntax(format!(
                                    "Expecting a function argument but got '{}'. {}",
                                    a.shown(),
                                    a.at()
                                )))
                            }
                        }
                        let sep = self.bump();
                        match sep.tok {
                            Tok::Comma => continue,
                            Tok::RParen => break,
                            _ => {
                                return Err(self.syntax(format!(
                                    "Expecting ',' or ')' but got '{}'. {}",
                                    sep.shown(),
                                    sep.at()
                                )))
                            }
                        }
                    }
                }
                function(text, &args).map(Operand::Func)
            }
            Tok::Word { text, quoted } if *quoted || !is_reserved(text) => {
                Ok(Operand::Lit(Lit::new(text.clone())))
            }
            Tok::Eof => Err(self.syntax(format!(
                "Expecting either a value, list or function before the end of the query. {}",
                t.at()
            ))),
            _ => Err(self.syntax(format!(
                "Expecting either a value, list or function but got '{}'. You must surround '{}' in quotation marks to use it as a value. {}",
                t.shown(),
                t.shown(),
                t.at()
            ))),
        }
    }
}

fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|r| word.eq_ignore_ascii_case(r))
}

/// Jira sorts dates newest first when no direction is given, everything else ascending.
fn default_direction(field: &Field) -> SortOrder {
    match field.kind() {
        FieldKind::Date => SortOrder::Desc,
        _ => SortOrder::Asc,
    }
}

fn function(name: &str, args: &[String]) -> Result<Func, JqlError> {
    let arity = |expected: &str, max: usize| {
        if args.len() > max {
            Err(JqlError::FunctionArity {
                function: name.to_string(),
                expected: expected.to_string(),
                received: args.len(),
            })
        } else {
            Ok(())
        }
    };
    let offset = || -> Result<Duration, JqlError> {
        match args.first() {
            None => Ok(Duration::zero()),
            Some(a) => parse_period(a).ok_or_else(|| JqlError::FunctionArgument {
                function: name.to_string(),
                argument: a.clone(),
            }),
        }
    };
    match name.to_ascii_lowercase().as_str() {
        "currentuser" => arity("0", 0).map(|_| Func::CurrentUser),
        "now" => arity("0", 0).map(|_| Func::Now),
        "startofday" => {
            arity("0' or '1", 1)?;
            Ok(Func::StartOfDay(offset()?))
        }
        "endofday" => {
            arity("0' or '1", 1)?;
            Ok(Func::EndOfDay(offset()?))
        }
        "opensprints" => arity("0", 0).map(|_| Func::OpenSprints),
        "closedsprints" => arity("0", 0).map(|_| Func::ClosedSprints),
        _ => Err(JqlError::UnknownFunction(format!("{name}()"))),
    }
}

fn shown_operand(o: &Operand) -> String {
    match o {
        Operand::Lit(l) => format!("\"{}\"", l.raw),
        Operand::Empty => "EMPTY".into(),
        Operand::Func(f) => format!("{f:?}"),
        Operand::List(items) => format!(
            "({})",
            items
                .iter()
                .map(shown_operand)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Checks a clause the way Jira's validators do, so a bad query fails at parse time with
/// Jira's message instead of silently matching nothing.
fn validate(name: &str, field: &Field, op: Op, operand: &Operand) -> Result<(), JqlError> {
    let kind = field.kind();
    let is_list_valued = matches!(
        operand,
        Operand::List(_) | Operand::Func(Func::OpenSprints | Func::ClosedSprints)
    );
    match op {
        Op::In | Op::NotIn if !is_list_valued => {
            return Err(JqlError::NonListValue {
                operator: op.text().to_string(),
                value: shown_operand(operand),
                field: name.to_string(),
            })
        }
        Op::In | Op::NotIn => {}
        _ if matches!(operand, Operand::List(_)) => {
            return Err(JqlError::ListValue {
                operator: op.text().to_string(),
                value: shown_operand(operand),
                field: name.to_string(),
            })
        }
        Op::Is | Op::IsNot if !matches!(operand, Operand::Empty) => {
            return Err(JqlError::Syntax(format!(
                "The operator '{}' only supports the value EMPTY or NULL for field '{name}'.",
                op.text()
            )))
        }
        Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::Contains | Op::NotContains
            if matches!(operand, Operand::Empty) =>
        {
            return Err(JqlError::Syntax(format!(
                "The operator '{}' does not support searching for EMPTY values for field '{name}'.",
                op.text()
            )))
        }
        _ => {}
    }
    let unsupported = || JqlError::UnsupportedOperator {
        operator: op.text().to_string(),
        field: name.to_string(),
    };
    let allowed = match kind {
        FieldKind::Any => true,
        FieldKind::Text => matches!(op, Op::Contains | Op::NotContains | Op::Is | Op::IsNot),
        FieldKind::Date | FieldKind::IssueRef | FieldKind::Version => {
            !matches!(op, Op::Contains | Op::NotContains)
        }
        FieldKind::Label | FieldKind::Named => matches!(
            op,
            Op::Eq | Op::Ne | Op::In | Op::NotIn | Op::Is | Op::IsNot
        ),
    };
    if !allowed {
        return Err(unsupported());
    }
    if kind == FieldKind::Date {
        check_dates(name, operand)?;
    }
    Ok(())
}

fn check_dates(name: &str, operand: &Operand) -> Result<(), JqlError> {
    match operand {
        Operand::Lit(l) if l.date.is_none() => Err(JqlError::InvalidDate {
            value: l.raw.clone(),
            field: name.to_string(),
        }),
        Operand::List(items) => items.iter().try_for_each(|i| check_dates(name, i)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Issue(HashMap<Field, Vec<JqlValue>>);

    impl Issue {
        fn with(mut self, f: Field, v: Vec<JqlValue>) -> Self {
            self.0.insert(f, v);
            self
        }
    }

    impl JqlIssue for Issue {
        fn values(&self, field: &Field) -> Vec<JqlValue> {
            self.0.get(field).cloned().unwrap_or_default()
        }
    }

    fn s(x: &str) -> JqlValue {
        JqlValue::Str(x.into())
    }

    fn date(x: &str) -> DateTime<Utc> {
        let n = NaiveDateTime::parse_from_str(x, "%Y-%m-%d %H:%M").expect("test date");
        Utc.from_utc_datetime(&n)
    }

    fn ctx() -> EvalContext {
        EvalContext {
            now: date("2024-02-10 12:00"),
            current_user: "acc-alice".into(),
            open_sprint_ids: vec![7],
            closed_sprint_ids: vec![3, 4],
        }
    }

    fn issue(key: &str, n: u64) -> Issue {
        Issue::default()
            .with(Field::Key, vec![s(key)])
            .with(Field::Id, vec![JqlValue::Num(10000.0 + n as f64)])
            .with(
                Field::Project,
                vec![s("DEMO"), JqlValue::Num(10000.0), s("Demo project")],
            )
            .with(Field::IssueType, vec![s("Story"), JqlValue::Num(10001.0)])
            .with(Field::Status, vec![s("In Progress"), JqlValue::Num(3.0)])
            .with(
                Field::StatusCategory,
                vec![s("In Progress"), s("indeterminate")],
            )
            .with(Field::Summary, vec![s("Checkout fails on Safari")])
            .with(
                Field::Text,
                vec![s("Checkout fails on Safari"), s("Steps: open the cart")],
            )
            .with(Field::Labels, vec![s("web"), s("urgent")])
            .with(
                Field::Created,
                vec![JqlValue::Date(date("2024-02-05 09:30"))],
            )
            .with(
                Field::Updated,
                vec![JqlValue::Date(date("2024-02-10 11:00"))],
            )
            .with(
                Field::Assignee,
                vec![s("acc-alice"), s("Alice Doe"), s("alice@example.com")],
            )
            .with(Field::Sprint, vec![s("Sprint 7"), JqlValue::Num(7.0)])
            .with(Field::Parent, vec![s("DEMO-1"), JqlValue::Num(10001.0)])
            .with(Field::Custom(10016), vec![JqlValue::Num(5.0)])
    }

    fn m(q: &str, i: &Issue) -> bool {
        parse(q)
            .unwrap_or_else(|e| panic!("{q}: {e}"))
            .matches(i, &ctx())
    }

    fn err(q: &str) -> String {
        match parse(q) {
            Ok(_) => panic!("{q} parsed but Jira rejects it"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn equality_matches_any_name_of_a_field_case_insensitively() {
        let i = issue("DEMO-5", 5);
        assert!(m("project = DEMO", &i));
        assert!(m("project = demo", &i));
        assert!(m("project = 10000", &i));
        assert!(m("Project = \"Demo project\"", &i));
        assert!(!m("project = OTHER", &i));
        assert!(m("type = Story", &i));
        assert!(m("ISSUETYPE = story", &i));
        assert!(m("status = \"in progress\"", &i));
        assert!(m("statusCategory = indeterminate", &i));
        assert!(m("assignee = 'alice@example.com'", &i));
    }

    #[test]
    fn inequality_excludes_empty_fields_as_jira_does() {
        let i = issue("DEMO-5", 5);
        let no_assignee = issue("DEMO-6", 6).with(Field::Assignee, vec![]);
        assert!(!m("assignee != acc-alice", &i));
        assert!(m("assignee != bob", &i));
        assert!(!m("assignee != bob", &no_assignee));
        assert!(m("assignee is EMPTY", &no_assignee));
        assert!(m("assignee = null", &no_assignee));
        assert!(!m("assignee is not empty", &no_assignee));
        assert!(m("assignee in (EMPTY, bob)", &no_assignee));
        assert!(!m("assignee not in (bob)", &no_assignee));
    }

    #[test]
    fn key_and_id_lists_and_ranges() {
        let i = issue("DEMO-5", 5);
        assert!(m("key in (DEMO-1, DEMO-5)", &i));
        assert!(m("issuekey = demo-5", &i));
        assert!(m("key not in (DEMO-1, DEMO-2)", &i));
        assert!(m("key > DEMO-4 and key <= DEMO-5", &i));
        assert!(!m("key > DEMO-10", &i));
        assert!(!m("key < OTHER-10", &i));
        assert!(m("id = 10005", &i));
        assert!(m("id >= 10005 AND id < 10006", &i));
        assert!(m("id in (1, 10005)", &i));
        assert!(m("key = 10005", &i));
        assert!(m("id = DEMO-5", &i));
        assert!(!m("key = 10004", &i));
        assert!(m("parent = DEMO-1", &i));
        assert!(m("parent in (10001)", &i));
    }

    #[test]
    fn dates_absolute_relative_and_functions() {
        let i = issue("DEMO-5", 5);
        assert!(m("created >= \"2024-02-05\"", &i));
        assert!(m("created >= '2024/02/05 09:30'", &i));
        assert!(!m("created > \"2024-02-05 09:30\"", &i));
        assert!(m("created < 2024-02-06", &i));
        // now is 2024-02-10 12:00: created 5 days and 2.5 hours ago.
        assert!(m("created >= -6d", &i));
        assert!(!m("created >= -5d", &i));
        assert!(m("created >= -1w", &i));
        assert!(m("created > \"-1w 2d\"", &i));
        assert!(!m("created > \"-5d 2h\"", &i));
        assert!(m("created > \"-5d 3h\"", &i));
        assert!(m("updated >= -4h", &i));
        assert!(!m("updated >= -30m", &i));
        assert!(m("updated < 1d", &i));
        assert!(m("updated <= now()", &i));
        assert!(m("updated >= startOfDay()", &i));
        assert!(!m("created >= startOfDay(-1d)", &i));
        assert!(m("created >= startOfDay(-5d)", &i));
        assert!(m("updated <= endOfDay()", &i));
    }

    #[test]
    fn text_search_and_labels() {
        let i = issue("DEMO-5", 5);
        assert!(m("summary ~ safari", &i));
        assert!(m("summary ~ \"checkout safari\"", &i));
        assert!(m("summary ~ \"check*\"", &i));
        assert!(!m("summary ~ chrome", &i));
        assert!(m("summary !~ chrome", &i));
        assert!(m("text ~ \"safari cart\"", &i));
        assert!(m("labels = urgent", &i));
        assert!(m("labels in (foo, WEB)", &i));
        assert!(!m("labels not in (web)", &i));
        assert!(m("labels != other", &i));
    }

    #[test]
    fn functions_user_and_sprints() {
        let i = issue("DEMO-5", 5);
        let closed =
            issue("DEMO-6", 6).with(Field::Sprint, vec![s("Sprint 3"), JqlValue::Num(3.0)]);
        assert!(m("assignee = currentUser()", &i));
        assert!(!m(
            "assignee = currentUser()",
            &closed.with(Field::Assignee, vec![s("bob")])
        ));
        assert!(m("sprint in openSprints()", &i));
        assert!(!m("sprint in closedSprints()", &i));
        assert!(m("sprint = 7", &i));
        assert!(m("sprint = \"sprint 7\"", &i));
        let closed =
            issue("DEMO-6", 6).with(Field::Sprint, vec![s("Sprint 3"), JqlValue::Num(3.0)]);
        assert!(m("sprint in closedSprints()", &closed));
        assert!(m("sprint not in openSprints()", &closed));
    }

    #[test]
    fn boolean_logic_precedence_and_parentheses() {
        let i = issue("DEMO-5", 5);
        // AND binds tighter than OR.
        assert!(m("project = X AND status = Done OR key = DEMO-5", &i));
        assert!(!m("project = X AND (status = Done OR key = DEMO-5)", &i));
        assert!(m("NOT project = X", &i));
        assert!(m("not (project = X or status = Done)", &i));
        assert!(m("project = DEMO && !(status = Done) || key = X-1", &i));
        assert!(m("((project = DEMO))", &i));
        assert!(m("\"Epic Link\" is empty", &i));
        assert!(m("cf[10016] = 5 and customfield_10016 > 3", &i));
        assert!(!m("cf[10016] < 5", &i));
    }

    #[test]
    fn custom_field_names_resolve_through_the_callback() {
        let q = parse_with("\"Story Points\" >= 5", &|n| {
            (n.eq_ignore_ascii_case("story points")).then_some(Field::Custom(10016))
        })
        .expect("parses");
        assert!(q.matches(&issue("DEMO-5", 5), &ctx()));
        assert_eq!(
            err("\"Story Points\" >= 5"),
            "Field 'Story Points' does not exist or you do not have permission to view it."
        );
    }

    #[test]
    fn order_by_several_fields_and_default() {
        let q = parse("project = DEMO").expect("parses");
        assert_eq!(q.order_by(), &[(Field::Key, SortOrder::Desc)]);
        assert!(q.is_bounded());
        let q = parse("ORDER BY status ASC, created DESC, cf[10016]").expect("parses");
        assert!(!q.is_bounded());
        assert_eq!(
            q.order_by(),
            &[
                (Field::Status, SortOrder::Asc),
                (Field::Created, SortOrder::Desc),
                (Field::Custom(10016), SortOrder::Asc)
            ]
        );
        assert_eq!(
            parse("order by updated").expect("parses").order_by()[0].1,
            SortOrder::Desc
        );
    }

    #[test]
    fn compare_sorts_keys_numerically_and_empty_last() {
        let q = parse("project = DEMO").expect("parses");
        let (a, b, c) = (
            issue("DEMO-9", 9),
            issue("DEMO-10", 10),
            issue("DEMO-100", 100),
        );
        assert_eq!(
            q.compare(&b, &a),
            Ordering::Less,
            "key DESC: DEMO-10 before DEMO-9"
        );
        let mut v = [&a, &c, &b];
        v.sort_by_cached_key(|i| q.sort_key(*i));
        let keys: Vec<_> = v.iter().map(|i| i.values(&Field::Key)[0].clone()).collect();
        assert_eq!(keys, vec![s("DEMO-100"), s("DEMO-10"), s("DEMO-9")]);

        let q = parse("order by cf[10016] asc").expect("parses");
        let none = issue("DEMO-1", 1).with(Field::Custom(10016), vec![]);
        let three = issue("DEMO-2", 2).with(Field::Custom(10016), vec![JqlValue::Num(3.0)]);
        assert_eq!(q.compare(&three, &none), Ordering::Less);
        let q = parse("order by cf[10016] desc").expect("parses");
        assert_eq!(q.compare(&three, &none), Ordering::Greater);
        // Ties broken by key ascending.
        let q = parse("order by project").expect("parses");
        assert_eq!(q.compare(&a, &b), Ordering::Less);
    }

    #[test]
    fn page_returns_the_ordered_slice_and_the_total() {
        let all: Vec<Issue> = (1..=25).map(|n| issue(&format!("DEMO-{n}"), n)).collect();
        let q = parse("project = DEMO AND key != DEMO-3 ORDER BY key ASC").expect("parses");
        let keys = |p: &Page<'_, Issue>| -> Vec<String> {
            p.issues
                .iter()
                .map(|i| match &i.values(&Field::Key)[0] {
                    JqlValue::Str(k) => k.clone(),
                    other => panic!("key {other:?}"),
                })
                .collect()
        };
        let first = q.page(&all, &ctx(), 0, 3);
        assert_eq!(first.total, 24);
        assert_eq!(keys(&first), vec!["DEMO-1", "DEMO-2", "DEMO-4"]);
        let later = q.page(&all, &ctx(), 20, 10);
        assert_eq!(
            keys(&later),
            vec!["DEMO-22", "DEMO-23", "DEMO-24", "DEMO-25"]
        );
        assert!(q.page(&all, &ctx(), 30, 10).issues.is_empty());
        assert!(q.page(&all, &ctx(), 0, 0).issues.is_empty());
        let newest = parse("project = DEMO")
            .expect("parses")
            .page(&all, &ctx(), 0, 2);
        assert_eq!(keys(&newest), vec!["DEMO-25", "DEMO-24"]);
    }

    #[test]
    fn syntax_errors_carry_jiras_message_and_position() {
        assert_eq!(
            err("invalid query"),
            "Error in the JQL Query: Expecting operator but got 'query'. The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'. (line 1, character 9)"
        );
        assert_eq!(
            err("project ="),
            "Error in the JQL Query: Expecting either a value, list or function before the end of the query. (line 1, character 10)"
        );
        assert_eq!(
            err("summary ~ \"abc"),
            "Error in the JQL Query: The quoted string 'abc' has not been completed. (line 1, character 11)"
        );
        assert_eq!(
            err("(project = A"),
            "Error in the JQL Query: Expecting ')' before the end of the query. (line 1, character 13)"
        );
        assert_eq!(
            err("project = A status = B"),
            "Error in the JQL Query: Expecting either 'OR' or 'AND' but got 'status'. (line 1, character 13)"
        );
        assert!(err("project = A AND\n  = B").contains("(line 2, character 3)"));
        assert!(
            err("project").starts_with("Error in the JQL Query: Expecting operator before the end")
        );
    }

    #[test]
    fn semantic_errors_match_jiras_wording() {
        assert_eq!(
            err("universe = 42"),
            "Field 'universe' does not exist or you do not have permission to view it."
        );
        assert_eq!(
            err("summary = test"),
            "The operator '=' is not supported by the 'summary' field."
        );
        assert_eq!(
            err("summary in test"),
            "Operator 'in' does not support the non-list value '\"test\"' for field 'summary'."
        );
        assert_eq!(
            err("project ~ DEMO"),
            "The operator '~' is not supported by the 'project' field."
        );
        assert_eq!(
            err("created > yesterday"),
            "Date value 'yesterday' for field 'created' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
        );
        assert_eq!(
            err("assignee = whoAmI()"),
            "Unable to find JQL function 'whoAmI()'."
        );
        assert_eq!(
            err("assignee = currentUser(x)"),
            "Function 'currentUser' expected '0' arguments but received '1'."
        );
        assert!(err("status was Done").contains("not supported by the simulator"));
        assert!(err("status = (A, B)").starts_with("Operator '=' does not support the list value"));
        assert!(err("status is Done").contains("only supports the value EMPTY"));
        assert!(err("created > \"2024-13-45\"").starts_with("Date value '2024-13-45'"));
    }

    #[test]
    fn empty_query_and_bare_order_by_match_everything() {
        let i = issue("DEMO-5", 5);
        assert!(m("", &i));
        assert!(m("  ", &i));
        assert!(m("order by key", &i));
    }

    #[test]
    fn every_short_token_sequence_parses_or_errors_without_panicking() {
        let vocab = [
            "project",
            "created",
            "summary",
            "cf[1]",
            "=",
            "!=",
            ">=",
            "~",
            "in",
            "not",
            "is",
            "empty",
            "(",
            ")",
            ",",
            "and",
            "or",
            "order",
            "by",
            "desc",
            "-7d",
            "\"x y\"",
            "now()",
            "openSprints()",
            "DEMO-1",
        ];
        let i = issue("DEMO-5", 5);
        let mut parsed = 0;
        for a in vocab {
            for b in vocab {
                for c in vocab {
                    for d in ["", "DEMO", ")", "asc"] {
                        let q = format!("{a} {b} {c} {d}");
                        if let Ok(query) = parse(&q) {
                            parsed += 1;
                            let _ = query.matches(&i, &ctx());
                            let _ = query.compare(&i, &i);
                        }
                    }
                }
            }
        }
        assert!(
            parsed > 100,
            "the vocabulary forms valid queries too ({parsed})"
        );
    }

    #[test]
    fn bad_input_never_panics() {
        for q in [
            "(((",
            ")))",
            "\"",
            "'",
            "= = =",
            "project in (",
            "project in (a,",
            "key > -",
            "cf[",
            "cf[abc] = 1",
            "created > \"-99999999999999w\"",
            "startOfDay(",
            "a ~ ~",
            "ORDER",
            "ORDER BY",
            "order by key,",
            "NOT",
            "project = a and",
            "é = ü",
            "!",
        ] {
            let _ = parse(q);
        }
        // Valid periods far beyond the calendar's range clamp instead of overflowing.
        let i = issue("DEMO-5", 5);
        assert!(m("created > \"-100000000w\"", &i));
        assert!(!m("created > \"100000000w\"", &i));
        assert!(m("created > startOfDay(-100000000w)", &i));
    }
}
