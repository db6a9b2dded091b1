//! YAML as CloudFormation and the Serverless Framework write it: short-form intrinsic tags (`!Ref`,
//! `!GetAtt`, `!Sub`, …) become their long JSON form, merge keys (`<<`) are applied, and non-string
//! keys are stringified, so the rest of the code reads plain JSON values.

use serde_json::{Map, Value};
use serde_yaml_ng::Value as Yaml;

/// Parses YAML into a JSON value, converting CloudFormation short-form tags.
pub fn parse_cfn_yaml(text: &str) -> Result<Value, String> {
    let mut yaml: Yaml = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    yaml.apply_merge().map_err(|e| e.to_string())?;
    to_json(yaml)
}

fn to_json(y: Yaml) -> Result<Value, String> {
    Ok(match y {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                // NaN and infinities have no JSON form; keep their text.
                serde_json::Number::from_f64(n.as_f64().unwrap_or_default())
                    .map(Value::Number)
                    .unwrap_or_else(|| Value::String(n.to_string()))
            }
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(seq) => {
            Value::Array(seq.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Yaml::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(key_string(k)?, to_json(v)?);
            }
            Value::Object(out)
        }
        Yaml::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!').to_owned();
            let inner = to_json(t.value)?;
            intrinsic(&name, inner)
        }
    })
}

/// `!Ref X` → `{"Ref": X}`, `!GetAtt A.B` → `{"Fn::GetAtt": ["A", "B"]}`, `!Condition C` →
/// `{"Condition": C}`, any other `!Name v` → `{"Fn::Name": v}`.
fn intrinsic(name: &str, value: Value) -> Value {
    let mut m = Map::new();
    match name {
        "Ref" => {
            m.insert("Ref".into(), value);
        }
        "Condition" => {
            m.insert("Condition".into(), value);
        }
        "GetAtt" => {
            let v = match value {
                Value::String(s) => match s.split_once('.') {
                    Some((a, b)) => Value::Array(vec![a.into(), b.into()]),
                    None => Value::String(s),
                },
                other => other,
            };
            m.insert("Fn::GetAtt".into(), v);
        }
        other => {
            m.insert(format!("Fn::{other}"), value);
        }
    }
    Value::Object(m)
}

fn key_string(k: Yaml) -> Result<String, String> {
    Ok(match k {
        Yaml::String(s) => s,
        Yaml::Bool(b) => b.to_string(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Null => "null".to_owned(),
        Yaml::Tagged(t) => format!("{} {}", t.tag, key_string(t.value)?),
        Yaml::Sequence(_) | Yaml::Mapping(_) => {
            return Err("a mapping key is itself a list or mapping, which JSON cannot hold".into())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_form_tags_become_long_form() {
        let v = parse_cfn_yaml(
            "a: !Ref Api\nb: !GetAtt Role.Arn\nc: !Sub '${AWS::Region}-x'\nd: !Join ['', [a, !Ref B]]\ne: !ImportValue shared\n",
        )
        .unwrap();
        assert_eq!(v["a"], serde_json::json!({"Ref": "Api"}));
        assert_eq!(v["b"], serde_json::json!({"Fn::GetAtt": ["Role", "Arn"]}));
        assert_eq!(v["c"], serde_json::json!({"Fn::Sub": "${AWS::Region}-x"}));
        assert_eq!(v["d"]["Fn::Join"][1][1], serde_json::json!({"Ref": "B"}));
        assert_eq!(v["e"], serde_json::json!({"Fn::ImportValue": "shared"}));
    }

    #[test]
    fn merge_keys_and_odd_keys() {
        let v = parse_cfn_yaml("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n200: ok\ntrue: yes\n")
            .unwrap();
        assert_eq!(v["other"], serde_json::json!({"x": 1, "y": 2}));
        assert_eq!(v["200"], "ok");
        assert_eq!(v["true"], "yes");
    }

    #[test]
    fn broken_yaml_is_an_error_not_a_panic() {
        assert!(parse_cfn_yaml("a: [1, 2\n").is_err());
        assert!(parse_cfn_yaml("a: b: c\n").is_err());
    }
}
