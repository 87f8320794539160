//! The CPU kernel behind the `hash-rounds` task, kept free of dependencies and of anything
//! wasm-specific so the native benchmark can compile this very file (`#[path]`) and compare the
//! same code run natively and inside the sandbox.

/// Runs `rounds` chained splitmix64 steps from `seed` and returns the last output.
///
/// Every round depends on the previous one, so the compiler cannot vectorize or shorten the loop:
/// the work is a serial chain of 64-bit multiplies, shifts and xors — the same on every target.
pub fn hash_rounds(seed: u64, rounds: u32) -> u64 {
    let mut state = seed;
    for _ in 0..rounds {
        state = mix(state.wrapping_add(0x9E37_79B9_7F4A_7C15));
    }
    state
}

/// splitmix64's output function (Steele, Lea, Flood 2014).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::hash_rounds;

    #[test]
    fn one_round_is_the_first_splitmix64_output() {
        // The published first output of splitmix64 seeded with 0.
        assert_eq!(hash_rounds(0, 1), 0xE220_A839_7B1D_CDAF);
        assert_eq!(hash_rounds(42, 0), 42);
    }
}
