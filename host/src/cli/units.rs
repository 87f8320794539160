//! Parsing of the sizes and durations users type, in the syntaxes they already know from Dask
//! (`--memory-limit 4GiB`, `2e9`) and Kubernetes (`16Gi`, `17G`).

use std::time::Duration;

/// Parses a byte size: a plain number (`2e9`, `1048576`) or a number with a decimal
/// (`K`, `KB`, `M`, `MB`, `G`, `GB`, `T`, `TB`) or binary (`Ki`, `KiB`, `Mi`, `MiB`, `Gi`,
/// `GiB`, `Ti`, `TiB`) suffix, case-insensitive.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.trim().parse().map_err(|_| {
        format!("`{text}` is not a size; write e.g. `512MiB`, `4Gi`, `16G` or `2e9`")
    })?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "ki" | "kib" => 1024.0,
        "mi" | "mib" => 1024.0 * 1024.0,
        "gi" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "ti" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "`{text}` has an unknown unit `{other}`; use B, K/KB, M/MB, G/GB, T/TB or \
                 Ki/KiB, Mi/MiB, Gi/GiB, Ti/TiB"
            ));
        }
    };
    let bytes = value * scale;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("`{text}` is not a usable size"));
    }
    Ok(bytes as u64)
}

/// Parses a duration such as `30s`, `500ms`, `2m`, `1h 30m` (a bare number means seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<f64>()
        && secs.is_finite()
        && secs > 0.0
    {
        return Ok(Duration::from_secs_f64(secs));
    }
    let d = humantime::parse_duration(t).map_err(|e| {
        format!("`{text}` is not a duration ({e}); write e.g. `30s`, `500ms`, `2m`")
    })?;
    if d.is_zero() {
        return Err(format!("`{text}`: the duration must be greater than zero"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_dask_and_kubernetes_syntax() {
        assert_eq!(parse_bytes("4Gi").unwrap(), 4 << 30);
        assert_eq!(parse_bytes("4GiB").unwrap(), 4 << 30);
        assert_eq!(parse_bytes("16G").unwrap(), 16_000_000_000);
        assert_eq!(parse_bytes("2e9").unwrap(), 2_000_000_000);
        assert_eq!(parse_bytes("512mib").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1048576").unwrap(), 1 << 20);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("4Qb").unwrap_err().contains("unknown unit"));
        assert!(parse_bytes("-1G").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
