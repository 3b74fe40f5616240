//! Payload filters: a small JSON language over an event, deciding at publish whether a
//! webhook gets a delivery of it.
//!
//! A filter is an object. Each key is a path into the event (`event`, `id`, `owner`,
//! `data`, `data.country`, `data.items.0.sku`) mapped to a condition, or one of the
//! combinators `$and` and `$or` (a list of filters) and `$not` (one filter). All keys of
//! one object must hold (so `{}` holds for every event). A condition is a JSON value
//! (equality) or an object of operators, all of which must hold:
//!
//! | operator | holds when the value at the path… |
//! |---|---|
//! | `$eq`, `$ne` | equals (does not equal) the operand; numbers compare by value |
//! | `$in`, `$nin` | equals one (none) of the operand's items |
//! | `$gt`, `$gte`, `$lt`, `$lte` | compares so with the operand: both numbers or both strings |
//! | `$exists` | is present (`true`) or absent (`false`); `null` is present |
//! | `$prefix` | is a string starting with the operand |
//! | `$contains` | is a string containing the operand, or an array with an item equal to it |
//!
//! A path that leads nowhere (a missing key, an index past the end, a key into a
//! string) has no value: only `$ne`, `$nin`, `$exists: false` and negations hold there.
//! `$not` also negates a condition: `{"data.agent": {"$not": {"$contains": "bot"}}}`.
//! Filters are checked when a webhook is created or changed: [`Filter::parse`] names
//! the path and the problem.

use std::cmp::Ordering;

use serde_json::{Map, Value};

/// Most nesting of combinators and conditions.
pub const MAX_FILTER_DEPTH: usize = 8;
/// Most conditions (path and operator pairs) in one filter.
pub const MAX_FILTER_CONDITIONS: usize = 64;
/// Most bytes of a filter as JSON.
pub const MAX_FILTER_BYTES: usize = 4096;
/// Most segments of a path.
const MAX_PATH_SEGMENTS: usize = 16;
/// Most items of an `$in` or `$nin` list.
const MAX_IN_ITEMS: usize = 100;
/// What a path may start with.
const ROOTS: [&str; 4] = ["event", "id", "owner", "data"];

/// A checked filter, ready to evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    node: Node,
    /// The filter as the client sent it, for storing and showing back.
    source: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    Cond(Path, Op),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Path(Vec<String>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Eq(Value),
    Ne(Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Cmp(Ordering, bool, Value),
    Exists(bool),
    Prefix(String),
    Contains(Value),
}

/// The parts of an event a filter reads.
#[derive(Debug, Clone, Copy)]
pub struct FilterInput<'a> {
    pub event_type: &'a str,
    pub id: &'a str,
    pub owner: Option<&'a str>,
    /// The event's data, parsed.
    pub data: &'a Value,
}

/// Why a filter was refused: the path within the filter (`$and[1].data.country`) and
/// the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub at: String,
    pub message: String,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.at.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.at, self.message)
        }
    }
}

impl Filter {
    /// Checks a filter as sent by a client.
    pub fn parse(source: &Value) -> Result<Self, FilterError> {
        let size = serde_json::to_string(source).map(|s| s.len()).unwrap_or(usize::MAX);
        if size > MAX_FILTER_BYTES {
            return Err(err("", format!("must be at most {MAX_FILTER_BYTES} bytes of JSON (this one is {size})")));
        }
        let mut conditions = 0;
        let node = parse_node(source, "", 1, &mut conditions)?;
        Ok(Self { node, source: source.clone() })
    }

    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Whether the event passes the filter.
    pub fn matches(&self, input: &FilterInput<'_>) -> bool {
        eval(&self.node, input)
    }
}

fn err(at: &str, message: impl Into<String>) -> FilterError {
    FilterError { at: at.to_owned(), message: message.into() }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

fn parse_node(v: &Value, at: &str, depth: usize, conditions: &mut usize) -> Result<Node, FilterError> {
    if depth > MAX_FILTER_DEPTH {
        return Err(err(at, format!("nests deeper than {MAX_FILTER_DEPTH} levels")));
    }
    let Value::Object(obj) = v else {
        return Err(err(at, "must be an object of paths and conditions, such as {\"data.country\": \"NL\"}"));
    };
    let mut all = Vec::with_capacity(obj.len());
    for (key, value) in obj {
        let here = join(at, key);
        let node = match key.as_str() {
            "$and" | "$or" => {
                let Value::Array(items) = value else {
                    return Err(err(&here, "must be a list of filters"));
                };
                if items.is_empty() {
                    return Err(err(&here, "must list at least one filter"));
                }
                let nodes = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| parse_node(item, &format!("{here}[{i}]"), depth + 1, conditions))
                    .collect::<Result<Vec<_>, _>>()?;
                if key == "$and" {
                    Node::All(nodes)
                } else {
                    Node::Any(nodes)
                }
            }
            "$not" => Node::Not(Box::new(parse_node(value, &here, depth + 1, conditions)?)),
            k if k.starts_with('$') => {
                return Err(err(&here, "is not a combinator: use $and, $or or $not, or a path such as data.country"))
            }
            _ => {
                let path = parse_path(key, &here)?;
                parse_condition(path, value, &here, depth + 1, conditions)?
            }
        };
        all.push(node);
    }
    Ok(if all.len() == 1 { all.pop().expect("one") } else { Node::All(all) })
}

fn parse_path(key: &str, at: &str) -> Result<Path, FilterError> {
    let segments: Vec<String> = key.split('.').map(str::to_owned).collect();
    if segments.iter().any(String::is_empty) {
        return Err(err(at, "is not a path: segments are separated by single dots, as in data.items.0.sku"));
    }
    if !ROOTS.contains(&segments[0].as_str()) {
        return Err(err(at, "is not a path into the event: it must start with event, id, owner or data"));
    }
    if segments[0] != "data" && segments.len() > 1 {
        return Err(err(at, format!("is not a path into the event: {} is a string, with no fields", segments[0])));
    }
    if segments.len() > MAX_PATH_SEGMENTS {
        return Err(err(at, format!("has more than {MAX_PATH_SEGMENTS} segments")));
    }
    Ok(Path(segments))
}

fn parse_condition(path: Path, v: &Value, at: &str, depth: usize, conditions: &mut usize) -> Result<Node, FilterError> {
    if depth > MAX_FILTER_DEPTH {
        return Err(err(at, format!("nests deeper than {MAX_FILTER_DEPTH} levels")));
    }
    let mut count = |n: usize| {
        *conditions += n;
        if *conditions > MAX_FILTER_CONDITIONS {
            Err(err(at, format!("makes the filter longer than {MAX_FILTER_CONDITIONS} conditions")))
        } else {
            Ok(())
        }
    };
    let ops = match v {
        Value::Object(o) if o.keys().any(|k| k.starts_with('$')) => o,
        _ => {
            count(1)?;
            return Ok(Node::Cond(path, Op::Eq(v.clone())));
        }
    };
    if ops.keys().any(|k| !k.starts_with('$')) {
        return Err(err(at, "mixes operators with plain keys: use {\"$eq\": {…}} to compare with an object"));
    }
    count(ops.keys().filter(|k| *k != "$not").count())?;
    let mut nodes = Vec::with_capacity(ops.len());
    for (op, operand) in ops {
        let here = join(at, op);
        if op == "$not" {
            let negated = parse_condition(path.clone(), operand, &here, depth + 1, conditions)?;
            nodes.push(Node::Not(Box::new(negated)));
        } else {
            nodes.push(Node::Cond(path.clone(), parse_op(op, operand, &here)?));
        }
    }
    Ok(if nodes.len() == 1 { nodes.pop().expect("one") } else { Node::All(nodes) })
}

fn parse_op(op: &str, operand: &Value, at: &str) -> Result<Op, FilterError> {
    let list = |operand: &Value| match operand {
        Value::Array(items) if items.len() <= MAX_IN_ITEMS => Ok(items.clone()),
        Value::Array(_) => Err(err(at, format!("must list at most {MAX_IN_ITEMS} values"))),
        _ => Err(err(at, "must be a list of values")),
    };
    let comparable = |operand: &Value| match operand {
        Value::Number(_) | Value::String(_) => Ok(operand.clone()),
        _ => Err(err(at, "must be a number or a string")),
    };
    Ok(match op {
        "$eq" => Op::Eq(operand.clone()),
        "$ne" => Op::Ne(operand.clone()),
        "$in" => Op::In(list(operand)?),
        "$nin" => Op::Nin(list(operand)?),
        "$gt" => Op::Cmp(Ordering::Greater, false, comparable(operand)?),
        "$gte" => Op::Cmp(Ordering::Greater, true, comparable(operand)?),
        "$lt" => Op::Cmp(Ordering::Less, false, comparable(operand)?),
        "$lte" => Op::Cmp(Ordering::Less, true, comparable(operand)?),
        "$exists" => match operand {
            Value::Bool(b) => Op::Exists(*b),
            _ => return Err(err(at, "must be true or false")),
        },
        "$prefix" => match operand {
            Value::String(s) => Op::Prefix(s.clone()),
            _ => return Err(err(at, "must be a string")),
        },
        "$contains" => match operand {
            Value::Array(_) | Value::Object(_) => return Err(err(at, "must be a string, number, boolean or null")),
            v => Op::Contains(v.clone()),
        },
        _ => {
            return Err(err(
                at,
                "is not an operator: use $eq, $ne, $in, $nin, $gt, $gte, $lt, $lte, $exists, $prefix or $contains",
            ))
        }
    })
}

fn eval(node: &Node, input: &FilterInput<'_>) -> bool {
    match node {
        Node::All(nodes) => nodes.iter().all(|n| eval(n, input)),
        Node::Any(nodes) => nodes.iter().any(|n| eval(n, input)),
        Node::Not(n) => !eval(n, input),
        Node::Cond(path, op) => {
            let owned;
            let value = match path.0[0].as_str() {
                "data" => lookup(input.data, &path.0[1..]),
                root => {
                    owned = match root {
                        "event" => Some(Value::String(input.event_type.to_owned())),
                        "id" => Some(Value::String(input.id.to_owned())),
                        _ => input.owner.map(|o| Value::String(o.to_owned())),
                    };
                    owned.as_ref()
                }
            };
            apply(op, value)
        }
    }
}

fn lookup<'v>(mut v: &'v Value, segments: &[String]) -> Option<&'v Value> {
    for s in segments {
        v = match v {
            Value::Object(o) => o.get(s)?,
            Value::Array(a) => a.get(s.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

fn apply(op: &Op, value: Option<&Value>) -> bool {
    match op {
        Op::Eq(x) => value.is_some_and(|v| same(v, x)),
        Op::Ne(x) => !value.is_some_and(|v| same(v, x)),
        Op::In(xs) => value.is_some_and(|v| xs.iter().any(|x| same(v, x))),
        Op::Nin(xs) => !value.is_some_and(|v| xs.iter().any(|x| same(v, x))),
        Op::Cmp(want, or_equal, x) => {
            value.and_then(|v| compare(v, x)).is_some_and(|o| o == *want || (*or_equal && o.is_eq()))
        }
        Op::Exists(b) => value.is_some() == *b,
        Op::Prefix(p) => matches!(value, Some(Value::String(s)) if s.starts_with(p.as_str())),
        Op::Contains(x) => match (value, x) {
            (Some(Value::String(s)), Value::String(needle)) => s.contains(needle.as_str()),
            (Some(Value::Array(items)), x) => items.iter().any(|i| same(i, x)),
            _ => false,
        },
    }
}

/// JSON equality, with numbers compared by value (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_cmp(x, y) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => objects_same(x, y),
        _ => a == b,
    }
}

fn objects_same(x: &Map<String, Value>, y: &Map<String, Value>) -> bool {
    x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_cmp(x, y),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn number_cmp(x: &serde_json::Number, y: &serde_json::Number) -> Option<Ordering> {
    match (x.as_i64(), y.as_i64()) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => match (x.as_u64(), y.as_u64()) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn input(data: &Value) -> FilterInput<'_> {
        FilterInput { event_type: "order.created", id: "evt_1", owner: Some("acct_42"), data }
    }

    fn check(filter: Value, data: Value) -> bool {
        Filter::parse(&filter).unwrap_or_else(|e| panic!("{filter}: {e}")).matches(&input(&data))
    }

    fn refusal(filter: Value) -> FilterError {
        Filter::parse(&filter).unwrap_err()
    }

    #[test]
    fn paths_reach_the_event_and_into_its_data() {
        let data = json!({"country": "NL", "items": [{"sku": "A-1", "qty": 2}], "total": 42.5, "tags": ["vip"]});
        assert!(check(json!({"event": "order.created"}), data.clone()));
        assert!(!check(json!({"event": "order.paid"}), data.clone()));
        assert!(check(json!({"id": "evt_1", "owner": "acct_42"}), data.clone()));
        assert!(check(json!({"data.country": "NL"}), data.clone()));
        assert!(check(json!({"data.items.0.sku": "A-1"}), data.clone()));
        assert!(!check(json!({"data.items.1.sku": "A-1"}), data.clone()));
        assert!(check(json!({"data.items.0": {"sku": "A-1", "qty": 2.0}}), data.clone()));
        assert!(check(json!({"data": {"$exists": true}}), data));
    }

    #[test]
    fn every_operator() {
        let d = json!({"n": 10, "s": "premium-gold", "a": ["x", 3], "nul": null});
        let t = |f: Value| check(f, d.clone());
        assert!(t(json!({"data.n": {"$eq": 10.0}})) && !t(json!({"data.n": {"$eq": "10"}})));
        assert!(t(json!({"data.n": {"$ne": 11}})) && t(json!({"data.missing": {"$ne": 1}})));
        assert!(t(json!({"data.n": {"$in": [1, 10]}})) && !t(json!({"data.missing": {"$in": [null]}})));
        assert!(t(json!({"data.n": {"$nin": [1, 2]}})) && !t(json!({"data.n": {"$nin": [10]}})));
        assert!(t(json!({"data.n": {"$gt": 9, "$lt": 11}})) && !t(json!({"data.n": {"$gt": 10}})));
        assert!(t(json!({"data.n": {"$gte": 10, "$lte": 10}})) && !t(json!({"data.n": {"$lte": 9.5}})));
        assert!(t(json!({"data.s": {"$gt": "premium"}})) && !t(json!({"data.s": {"$gt": 1}})));
        assert!(t(json!({"data.nul": {"$exists": true}})) && t(json!({"data.none": {"$exists": false}})));
        assert!(t(json!({"data.s": {"$prefix": "premium-"}})) && !t(json!({"data.n": {"$prefix": "1"}})));
        assert!(t(json!({"data.s": {"$contains": "gold"}})) && t(json!({"data.a": {"$contains": 3}})));
        assert!(!t(json!({"data.a": {"$contains": "y"}})) && !t(json!({"data.n": {"$contains": 1}})));
    }

    #[test]
    fn combinators() {
        let d = json!({"country": "NL", "total": 120});
        let t = |f: Value| check(f, d.clone());
        assert!(t(json!({"$or": [{"data.country": "DE"}, {"data.total": {"$gte": 100}}]})));
        assert!(!t(json!({"$and": [{"data.country": "NL"}, {"data.total": {"$lt": 100}}]})));
        assert!(t(json!({"$not": {"data.country": "DE"}})));
        // Sibling keys all hold.
        assert!(!t(json!({"data.country": "NL", "event": "order.paid"})));
        assert!(t(json!({"data.country": "NL", "$not": {"event": "order.paid"}})));
        // `$not` of a condition, beside other operators.
        assert!(t(json!({"data.total": {"$gt": 100, "$not": {"$gt": 200}}})));
        assert!(!t(json!({"data.total": {"$not": {"$in": [120, 130]}}})));
        assert!(t(json!({"data.missing": {"$not": {"$eq": 1}}})));
    }

    #[test]
    fn refusals_name_the_place_and_the_rule() {
        let e = refusal(json!({"$and": [{"data.x": 1}, {"data.y": {"$gt": [1]}}]}));
        assert_eq!(e.at, "$and[1].data.y.$gt");
        assert!(e.message.contains("number or a string"));
        assert!(refusal(json!({"payload.x": 1})).message.contains("start with event, id, owner or data"));
        assert!(refusal(json!({"event.name": 1})).message.contains("no fields"));
        assert!(refusal(json!({"data..x": 1})).message.contains("single dots"));
        assert!(refusal(json!({"data.x": {"$regex": "a"}})).message.contains("not an operator"));
        assert!(refusal(json!({"$xor": []})).message.contains("not a combinator"));
        assert!(refusal(json!({"$or": []})).message.contains("at least one"));
        assert!(refusal(json!({"data.x": {"$eq": 1, "y": 2}})).message.contains("mixes"));
        // An empty filter holds for every event, as an empty list of conditions does.
        assert!(check(json!({}), json!(null)));
        assert!(refusal(json!([1])).message.contains("object"));
        assert!(refusal(json!({"data.x": {"$exists": 1}})).message.contains("true or false"));
        assert!(refusal(json!({"data.x": {"$in": (0..101).collect::<Vec<_>>()}})).message.contains("at most 100"));
    }

    #[test]
    fn bounds_on_depth_size_and_conditions() {
        let mut deep = json!({"data.x": 1});
        for _ in 0..MAX_FILTER_DEPTH {
            deep = json!({ "$not": deep });
        }
        assert!(refusal(deep).message.contains("deeper"));
        let many: Map<String, Value> = (0..65).map(|i| (format!("data.k{i}"), json!(i))).collect();
        assert!(refusal(Value::Object(many)).message.contains("64 conditions"));
        let big = json!({ "data.x": "a".repeat(MAX_FILTER_BYTES) });
        assert!(refusal(big).message.contains("4096 bytes"));
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-5i64..5).prop_map(|n| json!(n)),
            (-5i64..5).prop_map(|n| json!(n as f64 + 0.5)),
            "[a-c]{0,3}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-c]", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn arb_path() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("event".to_owned()),
            Just("owner".to_owned()),
            prop::collection::vec(prop_oneof!["[a-c]", "[0-2]"], 0..3)
                .prop_map(|s| std::iter::once("data".to_owned()).chain(s).collect::<Vec<_>>().join(".")),
        ]
    }

    fn arb_scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            (-5i64..5).prop_map(|n| json!(n)),
            "[a-c]{0,2}".prop_map(Value::String),
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool)
        ]
    }

    fn arb_cond() -> impl Strategy<Value = Value> {
        let op = prop_oneof![
            arb_scalar().prop_map(|v| json!({"$eq": v})),
            arb_scalar().prop_map(|v| json!({"$ne": v})),
            prop::collection::vec(arb_scalar(), 0..3).prop_map(|v| json!({"$in": v})),
            prop::collection::vec(arb_scalar(), 0..3).prop_map(|v| json!({"$nin": v})),
            (-5i64..5).prop_map(|n| json!({"$gt": n})),
            "[a-c]{0,2}".prop_map(|s| json!({"$lte": s})),
            any::<bool>().prop_map(|b| json!({"$exists": b})),
            "[a-c]{0,2}".prop_map(|s| json!({"$prefix": s})),
            arb_scalar().prop_map(|v| json!({"$contains": v})),
            arb_scalar().prop_map(|v| json!({"$not": {"$eq": v}})),
        ];
        (arb_path(), op).prop_map(|(p, op)| json!({ p: op }))
    }

    fn arb_filter() -> impl Strategy<Value = Value> {
        arb_cond().prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..3).prop_map(|v| json!({"$and": v})),
                prop::collection::vec(inner.clone(), 1..3).prop_map(|v| json!({"$or": v})),
                inner.prop_map(|f| json!({"$not": f})),
            ]
        })
    }

    fn eval_on(f: &Value, data: &Value) -> bool {
        Filter::parse(f).unwrap().matches(&input(data))
    }

    proptest! {
        #[test]
        fn generated_filters_are_accepted(f in arb_filter()) {
            prop_assert!(Filter::parse(&f).is_ok());
        }

        #[test]
        fn not_negates(f in arb_filter(), data in arb_json()) {
            prop_assert_eq!(eval_on(&json!({"$not": f.clone()}), &data), !eval_on(&f, &data));
        }

        #[test]
        fn and_or_follow_boolean_logic(a in arb_filter(), b in arb_filter(), data in arb_json()) {
            let (x, y) = (eval_on(&a, &data), eval_on(&b, &data));
            prop_assert_eq!(eval_on(&json!({"$and": [a.clone(), b.clone()]}), &data), x && y);
            prop_assert_eq!(eval_on(&json!({"$or": [a.clone(), b.clone()]}), &data), x || y);
            // De Morgan.
            prop_assert_eq!(
                eval_on(&json!({"$not": {"$and": [a.clone(), b.clone()]}}), &data),
                eval_on(&json!({"$or": [{"$not": a}, {"$not": b}]}), &data)
            );
        }

        #[test]
        fn ne_nin_are_the_negations_of_eq_in(path in arb_path(), v in arb_scalar(), vs in prop::collection::vec(arb_scalar(), 0..3), data in arb_json()) {
            prop_assert_eq!(eval_on(&json!({ path.clone(): {"$ne": v.clone()} }), &data), !eval_on(&json!({ path.clone(): {"$eq": v.clone()} }), &data));
            prop_assert_eq!(eval_on(&json!({ path.clone(): {"$nin": vs.clone()} }), &data), !eval_on(&json!({ path.clone(): {"$in": vs.clone()} }), &data));
            prop_assert_eq!(eval_on(&json!({ path.clone(): {"$in": [v.clone()]} }), &data), eval_on(&json!({ path: {"$eq": v} }), &data));
        }

        #[test]
        fn a_value_equals_itself_where_it_is(data in arb_json(), key in "[a-c]") {
            if let Some(v) = data.get(&key) {
                let path = format!("data.{key}");
                let eq = json!({ path.clone(): {"$eq": v.clone()} });
                let exists = json!({ path: {"$exists": true} });
                prop_assert!(eval_on(&eq, &data));
                prop_assert!(eval_on(&exists, &data));
            }
        }

        #[test]
        fn numbers_order_totally(n in -5i64..5, m in -5i64..5) {
            let data = json!({"n": n});
            let gt = eval_on(&json!({"data.n": {"$gt": m}}), &data);
            let lte = eval_on(&json!({"data.n": {"$lte": m}}), &data);
            prop_assert!(gt != lte);
            prop_assert_eq!(gt, n > m);
        }

        #[test]
        fn arbitrary_json_never_panics(f in arb_json(), data in arb_json()) {
            if let Ok(f) = Filter::parse(&f) {
                let _ = f.matches(&input(&data));
            }
        }
    }
}
