//! The binary encoding of a `list<T>` of numbers straight from the numbers.
//!
//! A guest's `list<f64>` result of a million elements costs about 130 ms when wasmtime lifts it
//! into a `Val` per element and [`to_binary`](crate::to_binary) walks them; lifted as a `Vec<f64>`
//! and encoded here it is one copy. The bytes are the same as `to_binary` gives (a test holds the
//! two together), so whoever decodes them cannot tell which way they were made.

use super::binary::{varint, zigzag};

/// A number type that a WIT `list<T>` can hold, with its binary encoding.
pub trait Number: Copy + sealed::Sealed {
    /// Appends the encoding of `items`, without the count in front.
    fn extend(items: &[Self], out: &mut Vec<u8>);
}

/// The binary encoding of a `list<T>` holding `items`: the count, then the elements.
pub fn numbers_to_binary<N: Number>(items: &[N]) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + std::mem::size_of_val(items));
    varint(items.len() as u64, &mut out);
    N::extend(items, &mut out);
    out
}

mod sealed {
    /// Only the WIT number types: the encoding of anything else is not defined here.
    pub trait Sealed {}
}

/// Fixed-width types: their little-endian bytes.
macro_rules! fixed {
    ($($ty:ty),*) => {$(
        impl sealed::Sealed for $ty {}
        impl Number for $ty {
            fn extend(items: &[Self], out: &mut Vec<u8>) {
                if cfg!(target_endian = "little") {
                    // The numbers' own bytes, in one copy: zero-filling the output first (to
                    // write into a slice) touched every page twice, and for a worker's freshly
                    // allocated 8 MB result the zero-fill took the page faults.
                    out.extend_from_slice(bytemuck::cast_slice(items));
                } else {
                    out.reserve(std::mem::size_of_val(items));
                    for item in items {
                        out.extend_from_slice(&item.to_le_bytes());
                    }
                }
            }
        }
    )*};
}
fixed!(u8, i8, f32, f64);

/// Wider integers: a varint each, zigzagged first when signed.
macro_rules! varints {
    ($($ty:ty => $to_u64:expr),*) => {$(
        impl sealed::Sealed for $ty {}
        impl Number for $ty {
            fn extend(items: &[Self], out: &mut Vec<u8>) {
                out.reserve(items.len());
                for &item in items {
                    varint($to_u64(item), out);
                }
            }
        }
    )*};
}
varints!(
    u16 => u64::from,
    u32 => u64::from,
    u64 => std::convert::identity,
    i16 => |n| zigzag(i64::from(n)),
    i32 => |n| zigzag(i64::from(n)),
    i64 => zigzag
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_types::ty;
    use crate::to_binary;
    use wasmtime::component::Val;

    /// Each number type encodes exactly as its `Val`s do, at the edges of its range.
    #[test]
    fn equals_the_val_encoding() {
        fn check<N: Number>(wit: &str, items: &[N], val: fn(N) -> Val) {
            let ty = ty(&[], &format!("(list {wit})"));
            let vals = Val::List(items.iter().map(|&n| val(n)).collect());
            assert_eq!(
                numbers_to_binary(items),
                to_binary(&vals, &ty).unwrap(),
                "list<{wit}>"
            );
        }
        check("u8", &[0, 1, 127, 128, 255], Val::U8);
        check("s8", &[i8::MIN, -1, 0, 1, i8::MAX], Val::S8);
        check("u16", &[0, 127, 128, 300, u16::MAX], Val::U16);
        check("s16", &[i16::MIN, -65, -64, 0, 64, i16::MAX], Val::S16);
        check("u32", &[0, 1 << 7, 1 << 14, 1 << 21, u32::MAX], Val::U32);
        check("s32", &[i32::MIN, -1, 0, 1, i32::MAX], Val::S32);
        check("u64", &[0, 1 << 35, u64::MAX], Val::U64);
        check("s64", &[i64::MIN, -1, 0, 1, i64::MAX], Val::S64);
        check(
            "f32",
            &[f32::MIN, -0.0, 0.5, f32::INFINITY, f32::NAN],
            Val::Float32,
        );
        check(
            "f64",
            &[f64::MIN, -0.0, 0.5, f64::NEG_INFINITY, f64::NAN],
            Val::Float64,
        );
        // The count is a varint too: past 127 elements it takes two bytes.
        let long: Vec<f64> = (0..300).map(f64::from).collect();
        check("f64", &long, Val::Float64);
        check::<u32>("u32", &[], Val::U32);
    }
}
