//! `Vec<f64>`, `Vec<f32>`, `Vec<u8>` and `Vec<i8>` results decoded in one pass.
//!
//! Through serde, postcard decodes a list element by element, and serde preallocates at most
//! 1 MiB of it, so a million `f64`s take about 5 ms and several reallocations: most of what a
//! task that reduces large results spends on each one. Their binary encoding is a varint count
//! and then the little-endian elements, so these types are read straight from the bytes. The
//! outcome is the same as postcard's, errors included (the tests hold them together).

use std::any::{Any, TypeId};

/// `bytes` decoded as `R`, when `R` is one of the list types read here; `None` otherwise.
pub(crate) fn decode<R: 'static>(bytes: &[u8]) -> Option<Result<R, String>> {
    let id = TypeId::of::<R>();
    let decoded: Result<Box<dyn Any>, String> = if id == TypeId::of::<Vec<f64>>() {
        list(bytes, f64::from_le_bytes).map(|v| Box::new(v) as Box<dyn Any>)
    } else if id == TypeId::of::<Vec<f32>>() {
        list(bytes, f32::from_le_bytes).map(|v| Box::new(v) as Box<dyn Any>)
    } else if id == TypeId::of::<Vec<u8>>() {
        list(bytes, u8::from_le_bytes).map(|v| Box::new(v) as Box<dyn Any>)
    } else if id == TypeId::of::<Vec<i8>>() {
        list(bytes, i8::from_le_bytes).map(|v| Box::new(v) as Box<dyn Any>)
    } else {
        return None;
    };
    Some(decoded.map(|any| *any.downcast::<R>().expect("the type id matched")))
}

/// A count, then exactly that many `N`-byte elements.
fn list<T, const N: usize>(bytes: &[u8], from_le: fn([u8; N]) -> T) -> Result<Vec<T>, String> {
    let (count, rest) = varint(bytes)?;
    let expected = usize::try_from(count)
        .ok()
        .and_then(|count| count.checked_mul(N))
        .ok_or_else(|| format!("a list of {count} elements cannot be in memory"))?;
    match rest.len().cmp(&expected) {
        std::cmp::Ordering::Less => Err(format!(
            "the list says {count} elements of {N} bytes but {} bytes follow",
            rest.len()
        )),
        std::cmp::Ordering::Greater => Err(format!(
            "{} of its {} bytes are left over",
            rest.len() - expected,
            bytes.len()
        )),
        std::cmp::Ordering::Equal => Ok(rest
            .chunks_exact(N)
            .map(|chunk| from_le(chunk.try_into().expect("chunks of N bytes")))
            .collect()),
    }
}

/// postcard's varint for a length: 7 bits per byte, low first, at most 10 bytes.
fn varint(bytes: &[u8]) -> Result<(u64, &[u8]), String> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, &bytes[i + 1..]));
        }
    }
    Err("the list's length is cut off or too long".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_as_postcard<T>(value: &Vec<T>)
    where
        T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug + 'static,
    {
        let bytes = postcard::to_allocvec(value).unwrap();
        assert_eq!(decode::<Vec<T>>(&bytes).unwrap().as_ref(), Ok(value));
        // Too few bytes, and too many, fail here as with postcard.
        let short = &bytes[..bytes.len() - 1];
        if !value.is_empty() {
            assert!(postcard::from_bytes::<Vec<T>>(short).is_err());
            assert!(decode::<Vec<T>>(short).unwrap().is_err());
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            postcard::take_from_bytes::<Vec<T>>(&long),
            Ok((_, [0]))
        ));
        assert!(decode::<Vec<T>>(&long).unwrap().is_err());
    }

    #[test]
    fn decodes_as_postcard_does() {
        same_as_postcard(&(0..1000).map(|i| f64::from(i) * 0.5).collect::<Vec<f64>>());
        same_as_postcard(&vec![f64::NEG_INFINITY, -0.0, f64::MAX]);
        same_as_postcard(&vec![1.5f32, -2.25, f32::MIN]);
        same_as_postcard(&(0..=255).collect::<Vec<u8>>());
        same_as_postcard(&vec![i8::MIN, -1, 0, i8::MAX]);
        same_as_postcard::<f64>(&vec![]);
        // NaN is not equal to itself: compare the bits.
        let nan = postcard::to_allocvec(&vec![f64::NAN]).unwrap();
        let back = decode::<Vec<f64>>(&nan).unwrap().unwrap();
        assert_eq!(back[0].to_bits(), f64::NAN.to_bits());
    }

    #[test]
    fn other_types_are_left_to_serde() {
        assert!(decode::<Vec<u64>>(&[0]).is_none());
        assert!(decode::<f64>(&[0; 8]).is_none());
    }

    #[test]
    fn a_count_beyond_the_bytes_is_an_error_not_an_allocation() {
        let mut bytes = vec![0xff; 9];
        bytes.push(0x01);
        assert!(decode::<Vec<f64>>(&bytes).unwrap().is_err());
        assert!(decode::<Vec<u8>>(&[0x80]).unwrap().is_err(), "cut off");
    }
}
