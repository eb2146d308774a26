//! A linear pre-check of how deeply a request body nests, before any parser sees it. JSON
//! parsing stops at depth 128 by itself, but YAML parsing (apply patches, YAML bodies, and
//! strategic merge patches that are not JSON) costs time quadratic in the depth of flow
//! collections: a 600 KB body nested 100k levels deep took half a minute of CPU. Counting
//! brackets outside double-quoted strings bounds that in one pass; block-style YAML cannot
//! nest deeply within the body size limit (each level adds indentation).

use crate::error::ApiError;

/// Deepest nesting of `[`/`{` a body may have (upstream's decoders stop at 10,000; ours at
/// 128 for JSON already, so this only cuts pathological bodies short).
pub const MAX_NESTING_DEPTH: usize = 1000;

/// Refuses (400) a body nesting `[`/`{` deeper than [`MAX_NESTING_DEPTH`].
pub fn check_nesting(body: &[u8]) -> Result<(), ApiError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING_DEPTH {
                    return Err(ApiError::bad_request(format!(
                        "the request body nests deeper than {MAX_NESTING_DEPTH} levels: exceeded max depth"
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_bodies_are_refused_and_brackets_in_strings_do_not_count() {
        let deep = "[".repeat(MAX_NESTING_DEPTH + 1);
        let err = check_nesting(deep.as_bytes()).unwrap_err();
        assert_eq!(err.code, 400);
        let ok = format!("{{\"a\": \"{}\", \"b\": [[{{}}]]}}", "[{\\\"".repeat(5000));
        assert!(check_nesting(ok.as_bytes()).is_ok());
        let balanced = "[]".repeat(100_000);
        assert!(check_nesting(balanced.as_bytes()).is_ok());
    }
}
