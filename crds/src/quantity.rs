//! Kubernetes resource quantities (`500m`, `2`, `128Mi`, `1e3`) as exact milli-units.

/// A quantity that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid quantity {0:?}: expected a number with an optional suffix like 500m, 2, 128Mi or 1G"
)]
pub struct QuantityError(pub String);

/// Parses a quantity into thousandths of its unit, rounding up (so `1m` CPU is 1 and `1` is 1000,
/// `1Ki` bytes is 1,024,000).
pub fn parse_milli(text: &str) -> Result<i128, QuantityError> {
    let err = || QuantityError(text.to_string());
    let s = text.trim();
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err(err());
    }
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    // value = digits / 10^frac_len, scaled by suffix: numerator * base^exp / denominator
    let digits: i128 = format!("{int_part}{frac_part}")
        .parse()
        .map_err(|_| err())?;
    let frac_len = u32::try_from(frac_part.len()).map_err(|_| err())?;
    let (mul, div) = suffix_scale(suffix).ok_or_else(err)?;
    let denominator = 10i128
        .checked_pow(frac_len)
        .ok_or_else(err)?
        .checked_mul(div)
        .ok_or_else(err)?;
    let numerator = digits
        .checked_mul(mul)
        .and_then(|n| n.checked_mul(1000))
        .ok_or_else(err)?;
    let value = (numerator + denominator - 1) / denominator;
    Ok(if negative { -value } else { value })
}

/// `(multiplier, divisor)` of a suffix.
fn suffix_scale(suffix: &str) -> Option<(i128, i128)> {
    let binary = |p: u32| Some((1024i128.pow(p), 1));
    let decimal = |p: u32| Some((10i128.pow(p), 1));
    match suffix {
        "" => Some((1, 1)),
        "n" => Some((1, 1_000_000_000)),
        "u" => Some((1, 1_000_000)),
        "m" => Some((1, 1000)),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(1),
        "Mi" => binary(2),
        "Gi" => binary(3),
        "Ti" => binary(4),
        "Pi" => binary(5),
        "Ei" => binary(6),
        s if s.starts_with(['e', 'E']) => {
            let exp: i32 = s[1..].parse().ok()?;
            if exp >= 0 {
                Some((10i128.checked_pow(u32::try_from(exp).ok()?)?, 1))
            } else {
                Some((1, 10i128.checked_pow(exp.unsigned_abs())?))
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse_milli("500m"), Ok(500));
        assert_eq!(parse_milli("2"), Ok(2000));
        assert_eq!(parse_milli("0.5"), Ok(500));
        assert_eq!(parse_milli("1Ki"), Ok(1_024_000));
        assert_eq!(parse_milli("128Mi"), Ok(128 * 1024 * 1024 * 1000));
        assert_eq!(parse_milli("1G"), Ok(1_000_000_000_000));
        assert_eq!(parse_milli("1e3"), Ok(1_000_000));
        assert_eq!(parse_milli("1500u"), Ok(2));
        assert_eq!(parse_milli("-1"), Ok(-1000));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "m", "1.2.3", "12x", "1Zi", "ten"] {
            assert!(parse_milli(bad).is_err(), "{bad}");
        }
    }
}
