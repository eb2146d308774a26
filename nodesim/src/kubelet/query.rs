//! Query-string parsing (percent-decoding, `+` as space, repeated keys kept).

/// Decoded `(key, value)` pairs in order.
pub fn parse(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Percent-decodes a component.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

/// First value of a key.
pub fn get<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// All values of a key.
pub fn all<'a>(q: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    q.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// A boolean flag as the kubelet and API server send them (`1` or `true`).
pub fn flag(q: &[(String, String)], key: &str) -> bool {
    matches!(get(q, key), Some("1" | "true" | "True" | "TRUE"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_repeated_and_escaped() {
        let q = parse(Some(
            "command=sh&command=-c&command=echo%20hi+there&stdout=1&x=%zz&y=%4",
        ));
        assert_eq!(all(&q, "command"), vec!["sh", "-c", "echo hi there"]);
        assert!(flag(&q, "stdout"));
        assert!(!flag(&q, "stdin"));
        assert_eq!(get(&q, "x"), Some("%zz"));
        assert_eq!(get(&q, "y"), Some("%4"));
    }
}
