//! Serverless Framework variables: `${self:…}`, `${opt:stage, 'dev'}`, `${sls:stage}`, `${aws:region}`
//! are resolved for one stage; `${ssm:…}`, `${env:…}`, `${file(…)}`, `${cf:…}` and the rest are recorded
//! (with their inner variables resolved, so `${ssm:/${sls:stage}/x}` is recorded as `/qa/x`) and left
//! in the text as written.

use serde_json::Value;
use stagecraft_model::serverless::VarRef;

/// What a resolution knows about the deploy: the stage, region and (if known) account.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub root: &'a Value,
    pub stage: &'a str,
    pub region: &'a str,
    pub account_id: Option<&'a str>,
}

/// Self-references deeper than this are treated as a cycle.
const MAX_DEPTH: usize = 16;

#[derive(Debug)]
pub struct Resolver<'a> {
    ctx: Context<'a>,
    pub refs: Vec<VarRef>,
    pub errors: Vec<String>,
}

impl<'a> Resolver<'a> {
    pub fn new(ctx: Context<'a>) -> Self {
        Resolver {
            ctx,
            refs: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Resolves every string in `v`; `at` is the dotted path of `v` in the file.
    pub fn value(&mut self, v: &Value, at: &str) -> Value {
        self.value_depth(v, at, 0)
    }

    fn value_depth(&mut self, v: &Value, at: &str, depth: usize) -> Value {
        match v {
            Value::String(s) => self.string(s, at, depth),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| self.value_depth(x, &format!("{at}[{i}]"), depth))
                    .collect(),
            ),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| (k.clone(), self.value_depth(x, &join(at, k), depth)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Resolves the variables of one string. A string that is exactly one variable takes the
    /// variable's value with its type (a `${self:custom.tags}` mapping stays a mapping).
    fn string(&mut self, s: &str, at: &str, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            self.errors.push(format!(
                "{at}: variables nest deeper than {MAX_DEPTH} levels (a cycle?)"
            ));
            return Value::String(s.to_owned());
        }
        let mut text = s.to_owned();
        // Innermost first: find a `${` whose closing `}` has no `${` inside.
        let mut kept: Vec<String> = Vec::new();
        while let Some((start, end)) = innermost(&text) {
            let expr = text[start + 2..end].to_owned();
            let whole = start == 0 && end == text.len() - 1 && kept.is_empty();
            match self.expression(&expr, at, depth) {
                // What the inner resolution could not resolve is final: scanning it again would loop.
                Some(Value::String(r)) if r.contains("${") => {
                    let marker = format!("\u{0}{}\u{0}", kept.len());
                    kept.push(r);
                    text.replace_range(start..=end, &marker);
                }
                Some(Value::String(r)) => text.replace_range(start..=end, &r),
                Some(other) if whole => return other,
                Some(other) => text.replace_range(start..=end, &scalar_text(&other)),
                None => {
                    // Park it behind a marker so the loop moves on; restored below.
                    let marker = format!("\u{0}{}\u{0}", kept.len());
                    kept.push(format!("${{{expr}}}"));
                    text.replace_range(start..=end, &marker);
                }
            }
        }
        for (i, original) in kept.iter().enumerate() {
            text = text.replace(&format!("\u{0}{i}\u{0}"), original);
        }
        Value::String(text)
    }

    /// One `source:arg, fallback, …` expression; `None` when it must stay unresolved.
    fn expression(&mut self, expr: &str, at: &str, depth: usize) -> Option<Value> {
        let candidates = split_top_level(expr);
        let mut recorded = false;
        for cand in &candidates {
            let cand = cand.trim();
            if let Some(lit) = literal(cand) {
                return Some(lit);
            }
            let (source, arg) = match cand.split_once(':') {
                Some((s, a)) if is_source(s) => (s.trim(), a.trim()),
                _ if cand.starts_with("file(") => ("file", cand),
                _ => ("self", cand),
            };
            match source {
                "self" => {
                    if let Some(v) = lookup(self.ctx.root, arg) {
                        let v = v.clone();
                        return Some(self.value_depth(&v, at, depth + 1));
                    }
                }
                "opt" | "sls" | "aws" => {
                    let v = match (source, arg) {
                        ("opt" | "sls", "stage") => Some(self.ctx.stage.to_owned()),
                        ("opt" | "aws", "region") => Some(self.ctx.region.to_owned()),
                        ("aws", "accountId") => self.ctx.account_id.map(str::to_owned),
                        _ => None,
                    };
                    if let Some(v) = v {
                        return Some(Value::String(v));
                    }
                }
                _ => {
                    if !recorded {
                        self.refs.push(VarRef {
                            source: source.to_owned(),
                            argument: arg.to_owned(),
                            at: at.to_owned(),
                        });
                        recorded = true;
                    }
                }
            }
        }
        None
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

fn is_source(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '(' || c == ')')
        && !s.contains('.')
}

/// The innermost `${…}` span (start of `$`, index of `}`).
fn innermost(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut open: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'{') {
            open = Some(i);
            i += 2;
            continue;
        }
        if bytes[i] == b'}' {
            if let Some(o) = open {
                return Some((o, i));
            }
        }
        i += 1;
    }
    None
}

/// Splits `a, 'b, c', d` at commas outside quotes and parentheses.
fn split_top_level(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut parens = 0i32;
    for c in expr.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                cur.push(c);
            }
            (None, '(') => {
                parens += 1;
                cur.push(c);
            }
            (None, ')') => {
                parens -= 1;
                cur.push(c);
            }
            (None, ',') if parens == 0 => out.push(std::mem::take(&mut cur)),
            (None, c) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// `'text'`, `"text"`, numbers, `true`/`false` and `null` used as fallbacks.
fn literal(cand: &str) -> Option<Value> {
    let c = cand.trim();
    if c.len() >= 2
        && ((c.starts_with('\'') && c.ends_with('\'')) || (c.starts_with('"') && c.ends_with('"')))
    {
        return Some(Value::String(c[1..c.len() - 1].to_owned()));
    }
    match c {
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        "null" => return Some(Value::Null),
        _ => {}
    }
    if !c.is_empty() && c.chars().all(|ch| ch.is_ascii_digit()) {
        return c.parse::<i64>().ok().map(Value::from);
    }
    None
}

/// `custom.tableName` in the document (array indexes as numbers).
fn lookup<'v>(root: &'v Value, path: &str) -> Option<&'v Value> {
    let path = path.trim();
    if path.is_empty() {
        return Some(root);
    }
    let mut cur = root;
    for part in path.split('.') {
        cur = match cur {
            Value::Object(m) => m.get(part)?,
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolve(doc: &Value, s: &str) -> (Value, Vec<VarRef>) {
        let mut r = Resolver::new(Context {
            root: doc,
            stage: "qa",
            region: "eu-west-1",
            account_id: Some("222222222222"),
        });
        let v = r.value(&Value::String(s.to_owned()), "x");
        (v, r.refs)
    }

    #[test]
    fn stage_region_and_self_references_resolve() {
        let doc = json!({"service": "users", "custom": {"table": "users-${sls:stage}", "tags": {"a": 1}}});
        assert_eq!(resolve(&doc, "${opt:stage, 'dev'}").0, "qa");
        assert_eq!(resolve(&doc, "${self:service}-${opt:stage}").0, "users-qa");
        assert_eq!(resolve(&doc, "${self:custom.table}").0, "users-qa");
        assert_eq!(resolve(&doc, "${self:custom.tags}").0, json!({"a": 1}));
        assert_eq!(
            resolve(&doc, "${aws:region}:${aws:accountId}").0,
            "eu-west-1:222222222222"
        );
        assert_eq!(
            resolve(&doc, "${self:custom.missing, 'fallback'}").0,
            "fallback"
        );
    }

    #[test]
    fn ssm_and_other_sources_are_recorded_with_inner_variables_resolved() {
        let doc = json!({"custom": {"prefix": "acme"}});
        let (v, refs) = resolve(&doc, "${ssm:/${self:custom.prefix}/${opt:stage}/db}");
        assert_eq!(v, "${ssm:/acme/qa/db}");
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].source, "ssm");
        assert_eq!(refs[0].argument, "/acme/qa/db");
        let (v, refs) = resolve(&doc, "x-${env:HOME}-${file(./config.yml):key}");
        assert_eq!(v, "x-${env:HOME}-${file(./config.yml):key}");
        assert_eq!(
            refs.iter().map(|r| r.source.as_str()).collect::<Vec<_>>(),
            ["env", "file"]
        );
    }

    #[test]
    fn cycles_and_garbage_do_not_hang_or_panic() {
        let doc = json!({"a": "${self:b}", "b": "${self:a}"});
        let mut r = Resolver::new(Context {
            root: &doc,
            stage: "qa",
            region: "r",
            account_id: None,
        });
        let _ = r.value(&doc, "");
        assert!(!r.errors.is_empty());
        for s in [
            "${",
            "${}",
            "}${",
            "${opt:}",
            "${,,,}",
            "${self:}",
            "${'unterminated}",
        ] {
            let _ = resolve(&doc, s);
        }
    }
}
