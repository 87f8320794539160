//! Parsing of the sizes and durations users type, in the syntaxes they already know from Dask
//! (`--memory-limit 4GiB`, `2e9`) and Kubernetes (`16Gi`, `17G`).

use std::time::Duration;

use wasmdask_flyte::Quantity;

/// Parses a byte size: a plain number (`2e9`, `1048576`) or a number with a decimal
/// (`K`, `KB`, `M`, `MB`, `G`, `GB`, `T`, `TB`) or binary (`Ki`, `KiB`, `Mi`, `MiB`, `Gi`,
/// `GiB`, `Ti`, `TiB`) suffix, case-insensitive.
///
/// The number and the unit are both read by the Kubernetes quantity grammar ([`Quantity`]), so
/// a size means here what it means in a pod spec; only Dask's spellings of the units are
/// translated first: any case, an optional `B`, `K` for `k`, and `m` for mega (Kubernetes' `m`
/// is milli, which no one means for bytes).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    // An `e` belongs to the number (`2e9`); every other letter starts the unit.
    let split = t
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number = Quantity::parse(number.trim()).map_err(|_| {
        format!("`{text}` is not a size; write e.g. `512MiB`, `4Gi`, `16G` or `2e9`")
    })?;
    let unit = unit.trim().to_ascii_lowercase();
    let suffix = match unit.strip_suffix('b').unwrap_or(&unit) {
        "" => "",
        "k" => "k",
        "m" => "M",
        "g" => "G",
        "t" => "T",
        "ki" => "Ki",
        "mi" => "Mi",
        "gi" => "Gi",
        "ti" => "Ti",
        _ => {
            return Err(format!(
                "`{text}` has an unknown unit `{unit}`; use B, K/KB, M/MB, G/GB, T/TB or \
                 Ki/KiB, Mi/MiB, Gi/GiB, Ti/TiB"
            ));
        }
    };
    let scale = Quantity::parse(&format!("1{suffix}")).expect("every suffix above is Kubernetes'");
    let bytes = number.value() * scale.value();
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
    fn dask_units_over_the_kubernetes_grammar() {
        // Dask's `m` is mega, never Kubernetes' milli.
        assert_eq!(parse_bytes("512m").unwrap(), 512_000_000);
        assert_eq!(parse_bytes("2K").unwrap(), 2_000);
        assert_eq!(parse_bytes("2kb").unwrap(), 2_000);
        assert_eq!(parse_bytes("1.5e3KiB").unwrap(), 1_536_000);
        assert_eq!(parse_bytes(" 4 GiB ").unwrap(), 4 << 30);
        assert_eq!(parse_bytes("+.5Ki").unwrap(), 512);
        assert_eq!(parse_bytes("64B").unwrap(), 64);
        assert!(
            parse_bytes("4kbb")
                .unwrap_err()
                .contains("unknown unit `kbb`")
        );
        assert!(parse_bytes("1.2.3G").unwrap_err().contains("is not a size"));
        assert!(
            parse_bytes("1e400")
                .unwrap_err()
                .contains("not a usable size")
        );
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
