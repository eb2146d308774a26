//! Cell formatting shared by the printers: ages, labels, selectors, simple JSONPath.

use serde_json::Value;

/// Upstream's `duration.HumanDuration` for an age in seconds.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Age of an RFC 3339 timestamp (`<unknown>` when absent, `<invalid>` when unparsable).
pub fn age(timestamp: Option<&Value>, now: jiff::Timestamp) -> String {
    match timestamp.and_then(Value::as_str) {
        None | Some("") => "<unknown>".to_owned(),
        Some(text) => match text.parse::<jiff::Timestamp>() {
            Ok(ts) => human_duration(now.as_second() - ts.as_second()),
            Err(_) => "<invalid>".to_owned(),
        },
    }
}

/// `labels.FormatLabels`: sorted `k=v` pairs, `<none>` when empty.
pub fn format_labels(labels: Option<&Value>) -> String {
    let Some(map) = labels.and_then(Value::as_object) else {
        return "<none>".to_owned();
    };
    if map.is_empty() {
        return "<none>".to_owned();
    }
    let mut pairs: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// A `LabelSelector` rendered as `LabelSelectorAsSelector(..).String()` does.
pub fn format_selector(selector: Option<&Value>) -> String {
    let Some(selector) = selector.and_then(Value::as_object) else {
        return "<none>".to_owned();
    };
    let mut requirements: Vec<(String, String)> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            requirements.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())));
        }
    }
    if let Some(exprs) = selector.get("matchExpressions").and_then(Value::as_array) {
        for expr in exprs {
            let key = expr.get("key").and_then(Value::as_str).unwrap_or_default();
            let mut values: Vec<&str> = expr
                .get("values")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            values.sort_unstable();
            let text = match expr.get("operator").and_then(Value::as_str) {
                Some("In") => format!("{key} in ({})", values.join(",")),
                Some("NotIn") => format!("{key} notin ({})", values.join(",")),
                Some("Exists") => key.to_owned(),
                Some("DoesNotExist") => format!("!{key}"),
                _ => continue,
            };
            requirements.push((key.to_owned(), text));
        }
    }
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    requirements
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

/// `metav1.FormatLabelSelector`: the selector's string form, `<none>` when it selects
/// everything or nothing.
pub fn format_label_selector(selector: Option<&Value>) -> String {
    match format_selector(selector) {
        text if text.is_empty() => "<none>".to_owned(),
        text => text,
    }
}

/// Evaluates a simple JSONPath (`.a.b`, `[0]`, `[*]`, `[?(@.k=="v")]`) and returns the first
/// result, as the CRD table convertor uses it.
pub fn json_path_first<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    let path = path.trim();
    let path = path
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(path);
    let mut current: Vec<&Value> = vec![value];
    let mut rest = path.strip_prefix('$').unwrap_or(path);
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let field = &r[..end];
            rest = &r[end..];
            if field.is_empty() {
                continue;
            }
            current = current.into_iter().filter_map(|v| v.get(field)).collect();
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            // A filter may contain `]` only inside quotes; Kubernetes columns do not.
            let inner = &r[..end];
            rest = &r[end + 1..];
            current = apply_bracket(current, inner)?;
        } else {
            return None;
        }
    }
    current.into_iter().next()
}

fn apply_bracket<'v>(current: Vec<&'v Value>, inner: &str) -> Option<Vec<&'v Value>> {
    let inner = inner.trim();
    if inner == "*" {
        return Some(
            current
                .into_iter()
                .flat_map(|v| match v {
                    Value::Array(items) => items.iter().collect::<Vec<_>>(),
                    Value::Object(map) => map.values().collect(),
                    _ => Vec::new(),
                })
                .collect(),
        );
    }
    if let Some(filter) = inner.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) {
        let (lhs, rhs) = filter.split_once("==")?;
        let field = lhs.trim().strip_prefix("@.")?;
        let wanted = rhs.trim().trim_matches(|c| c == '"' || c == '\'');
        return Some(
            current
                .into_iter()
                .filter_map(Value::as_array)
                .flatten()
                .filter(|item| {
                    json_path_first(item, &format!(".{field}")).is_some_and(|v| match v {
                        Value::String(s) => s == wanted,
                        other => serde_json::to_string(other).is_ok_and(|t| t == wanted),
                    })
                })
                .collect(),
        );
    }
    if let Ok(index) = inner.parse::<i64>() {
        return Some(
            current
                .into_iter()
                .filter_map(|v| {
                    let items = v.as_array()?;
                    let i = if index < 0 {
                        items.len().checked_sub(index.unsigned_abs() as usize)?
                    } else {
                        usize::try_from(index).ok()?
                    };
                    items.get(i)
                })
                .collect(),
        );
    }
    let key = inner.trim_matches(|c| c == '"' || c == '\'');
    Some(current.into_iter().filter_map(|v| v.get(key)).collect())
}
