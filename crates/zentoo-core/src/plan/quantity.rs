//! Kubernetes quantities (`8Gi`, `512M`, `1073741824`) as bytes, for sizes zentoo also uses
//! outside a cluster (a local tmpfs).

/// The bytes `quantity` stands for: an integer with an optional binary (`Ki`, `Mi`, `Gi`, `Ti`)
/// or decimal (`k`, `M`, `G`, `T`) suffix.
pub fn bytes(quantity: &str) -> Result<u64, String> {
    let q = quantity.trim();
    let split = q.find(|c: char| !c.is_ascii_digit()).unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let bad = || {
        format!(
            "`{quantity}` is not a size like 8Gi, 512Mi or 2G (an integer and Ki/Mi/Gi/Ti or k/M/G/T)"
        )
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    let unit: u64 = match suffix {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        _ => return Err(bad()),
    };
    let total = n.checked_mul(unit).ok_or_else(bad)?;
    if total == 0 {
        return Err(format!("`{quantity}`: a size must be more than 0"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::bytes;

    #[test]
    fn sizes_parse_with_binary_and_decimal_suffixes() {
        assert_eq!(bytes("8Gi"), Ok(8 << 30));
        assert_eq!(bytes("512Mi"), Ok(512 << 20));
        assert_eq!(bytes("2G"), Ok(2_000_000_000));
        assert_eq!(bytes("4096"), Ok(4096));
        for bad in ["", "Gi", "1.5Gi", "8gb", "-1", "0", "99999999999Ti"] {
            assert!(bytes(bad).is_err(), "{bad}");
        }
    }
}
