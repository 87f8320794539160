//! Large values through the cluster (see `wit/world.wit`).

use wasmdask_guest::{Call, cluster};

wasmdask_guest::wit_bindgen::generate!({
    world: "data",
    path: "wit",
    runtime_path: "wasmdask_guest::wit_bindgen::rt",
});

struct Data;

impl Guest for Data {
    fn bytes(len: u32, seed: u32) -> Vec<u8> {
        (0..len).map(|k| ((seed + k) % 251) as u8).collect()
    }

    fn floats(len: u32, seed: u32) -> Vec<f64> {
        let base = f64::from(seed) * f64::from(len);
        (0..len).map(|k| (base + f64::from(k)) / 2.0).collect()
    }

    fn gather_bytes(count: u32, len: u32) -> Result<u64, String> {
        let all: Vec<Vec<u8>> = cluster::map_gather("bytes", (0..count).map(|i| (len, i)))?;
        check_lengths(all.iter().map(Vec::len), len)?;
        Ok(all.iter().map(|bytes| byte_sum(bytes)).sum())
    }

    fn reduce_bytes(count: u32, len: u32) -> Result<u64, String> {
        let calls: Vec<Call<Vec<u8>>> = cluster::map("bytes", (0..count).map(|i| (len, i)))?;
        let mut total = 0;
        for bytes in cluster::gather_iter(calls) {
            let bytes = bytes?;
            check_lengths([bytes.len()], len)?;
            total += byte_sum(&bytes);
        }
        Ok(total)
    }

    fn sum_floats(count: u32, len: u32) -> Result<f64, String> {
        let calls: Vec<Call<Vec<f64>>> = cluster::map("floats", (0..count).map(|i| (len, i)))?;
        let mut total = 0.0;
        for floats in cluster::gather_iter(calls) {
            total += floats?.iter().sum::<f64>();
        }
        Ok(total)
    }

    fn send_bytes(len: u32) -> Result<u32, String> {
        let data: Vec<u8> = (0..len).map(|k| k as u8).collect();
        // A `list<u8>` parameter: serde_bytes-free, a Vec<u8> encodes as its length and bytes.
        Ok(cluster::submit::<_, u32>("length", (data,))?.result()?)
    }

    fn length(data: Vec<u8>) -> u32 {
        data.len() as u32
    }
}

fn byte_sum(bytes: &[u8]) -> u64 {
    bytes.iter().map(|&b| u64::from(b)).sum()
}

fn check_lengths(lengths: impl IntoIterator<Item = usize>, len: u32) -> Result<(), String> {
    match lengths.into_iter().find(|&n| n != len as usize) {
        Some(n) => Err(format!("a result has {n} bytes, expected {len}")),
        None => Ok(()),
    }
}

export!(Data);
