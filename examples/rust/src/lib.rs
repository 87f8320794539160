//! Example wasmdask tasks in Rust: see `wit/world.wit` (shared with the other languages' examples)
//! and `wit/rust-only/world.wit` for their signatures and `README.md` for how to build and run them.

mod kernel;

use wasmdask_guest::{Arg, Call, cluster, log};

wasmdask_guest::wit_bindgen::generate!({
    // The shared `tasks` world (`wit/world.wit`) plus the Rust-only exports of
    // `wit/rust-only/world.wit`; see there why they are apart.
    world: "example:rust-tasks/rust-tasks",
    path: ["wit", "wit/rust-only"],
    // The generated code uses the wit-bindgen runtime through the SDK's re-export, so this crate
    // needs no wit-bindgen dependency of its own (and cannot pick a mismatched version).
    runtime_path: "wasmdask_guest::wit_bindgen::rt",
});

struct Tasks;

impl Guest for Tasks {
    fn hash_rounds(seed: u64, rounds: u32) -> u64 {
        kernel::hash_rounds(seed, rounds)
    }

    fn square(x: u64) -> u64 {
        // Wraps only for x > u32::MAX; `sum-of-squares` never asks for such x.
        x.wrapping_mul(x)
    }

    fn sum_of_squares(n: u32) -> Result<u64, String> {
        log::info(format!("squaring 1..={n} on the cluster"));
        // One `square` task per number; `(x,)` is square's positional argument list.
        let squares: Vec<u64> = cluster::map_gather("square", (1..=u64::from(n)).map(|x| (x,)))?;
        checked_sum(squares).ok_or_else(|| format!("the sum of squares of 1..={n} overflows u64"))
    }

    fn square_twice(x: u64) -> Result<u64, String> {
        let inner: Call<u64> = cluster::submit("square", (x,))?;
        // `inner.arg()` passes the inner result by handle: it goes to the outer call where it
        // lies, never into this task. `inner` is dropped (released) at the end; the outer call
        // already holds what it needs.
        Ok(cluster::submit_with::<u64>("square", [inner.arg()])?.result()?)
    }

    fn chunk(i: u32, len: u32) -> Vec<f64> {
        // In u64, so `i * len` cannot wrap; every element is exact while it stays below 2^53.
        let first = u64::from(i) * u64::from(len);
        (first..first + u64::from(len))
            .map(|j| j as f64 * 0.5)
            .collect()
    }

    fn sum_chunks(count: u32, len: u32) -> Result<f64, String> {
        log::info(format!(
            "summing {count} chunks of {len} numbers built on the cluster"
        ));
        let chunks: Vec<Call<Vec<f64>>> = cluster::map("chunk", (0..count).map(|i| (i, len)))?;
        // One chunk at a time: each is taken from the host, summed and dropped before the next,
        // so the guest holds one chunk (len * 8 bytes), never all of them.
        let mut total = 0.0;
        for chunk in chunks {
            total += chunk.result()?.iter().sum::<f64>();
        }
        Ok(total)
    }

    fn sum_all(chunks: Vec<Vec<f64>>) -> f64 {
        chunks.iter().flatten().sum()
    }

    fn reduce_chunks(count: u32, len: u32) -> Result<f64, String> {
        let chunks: Vec<Call<Vec<f64>>> = cluster::map("chunk", (0..count).map(|i| (i, len)))?;
        // `Arg::calls` passes the chunks by handle: they move to the `sum-all` call, worker to
        // worker, and only its f64 comes back here.
        Ok(cluster::submit_with::<f64>("sum-all", [Arg::calls(&chunks)])?.result()?)
    }

    fn tree(depth: u32, width: u32) -> Result<u64, String> {
        if depth == 0 {
            return Ok(1);
        }
        // Each child waits for its own children: the cluster lends a waiting task's slot to
        // queued work, so a tree deeper than the worker count does not deadlock.
        let leaves: Vec<u64> = cluster::map_gather("tree", (0..width).map(|_| (depth - 1, width)))?;
        checked_sum(leaves).ok_or_else(|| {
            format!("a tree of depth {depth} and width {width} has over 2^64 leaves")
        })
    }

    fn spin(micros: u32) -> u32 {
        // Wall time, not a count of loop rounds: the task lasts `micros` however fast the
        // machine is, so a benchmark knows the ideal time of a fan-out of them exactly.
        let until = std::time::Instant::now() + std::time::Duration::from_micros(micros.into());
        while std::time::Instant::now() < until {
            std::hint::spin_loop();
        }
        micros
    }

    fn spin_many(count: u32, micros: u32) -> Result<u64, String> {
        let spun: Vec<u32> = cluster::map_gather("spin", (0..count).map(|_| (micros,)))?;
        Ok(spun.into_iter().map(u64::from).sum())
    }

    fn inc(x: u64) -> u64 {
        x.wrapping_add(1)
    }

    fn mean(a: u64, b: u64) -> u64 {
        a / 2 + b / 2 + (a % 2 + b % 2) / 2
    }

    fn chain(n: u32) -> Result<u64, String> {
        let mut last: Call<u64> = cluster::submit("inc", (0u64,))?;
        for _ in 1..n {
            // Assigning drops (releases) the previous handle: the cluster frees its value as soon
            // as the call just submitted has used it.
            last = cluster::submit_with("inc", [last.arg()])?;
        }
        Ok(last.result()?)
    }

    fn diamond(n: u32) -> Result<u64, String> {
        let mut bottom: Option<Call<u64>> = None;
        for _ in 0..n {
            let top: Call<u64> = match &bottom {
                None => cluster::submit("inc", (0u64,))?,
                Some(prev) => cluster::submit_with("inc", [prev.arg()])?,
            };
            let left: Call<u64> = cluster::submit_with("inc", [top.arg()])?;
            let right: Call<u64> = cluster::submit_with("inc", [top.arg()])?;
            bottom = Some(cluster::submit_with("mean", [left.arg(), right.arg()])?);
        }
        bottom.map_or(Ok(0), |bottom| Ok(bottom.result()?))
    }

    fn summarize(samples: Vec<f64>, label: Option<String>) -> Stats {
        let count = samples.len();
        let (min, max) = min_max(&samples).unzip();
        Stats {
            // A `list` argument cannot exceed the 4 GiB wasm32 address space, so no f64 sample
            // count overflows u32 (4 GiB / 8 bytes = 2^29).
            count: u32::try_from(count).expect("a wasm32 list has fewer than 2^32 elements"),
            mean: (count > 0).then(|| samples.iter().sum::<f64>() / count as f64),
            min,
            max,
            label: label.unwrap_or_else(|| "unnamed".to_owned()),
        }
    }

    fn histogram(samples: Vec<f64>, buckets: u32) -> Result<Vec<Bucket>, String> {
        if buckets == 0 {
            return Err("buckets must be at least 1".to_owned());
        }
        if let Some(bad) = samples.iter().find(|x| !x.is_finite()) {
            return Err(format!("samples must be finite numbers, found {bad}"));
        }
        let Some((min, max)) = min_max(&samples) else {
            return Err("cannot build a histogram of no samples".to_owned());
        };
        let width = (max - min) / f64::from(buckets);
        // The last bound is exactly `max`, whatever the rounding of `min + width * buckets`.
        let bound = |i: u32| {
            if i == buckets {
                max
            } else {
                min + width * f64::from(i)
            }
        };
        let mut histogram: Vec<Bucket> = (0..buckets)
            .map(|i| Bucket {
                lower: bound(i),
                upper: bound(i + 1),
                count: 0,
            })
            .collect();
        let last = histogram.len() - 1;
        for x in samples {
            // When all samples are equal, width is 0 and they all go to the first bucket.
            let index = if width > 0.0 {
                ((x - min) / width) as usize
            } else {
                0
            };
            histogram[index.min(last)].count += 1;
        }
        Ok(histogram)
    }
}

/// The sum of `numbers`, or `None` when it overflows u64.
fn checked_sum(numbers: Vec<u64>) -> Option<u64> {
    numbers.into_iter().try_fold(0u64, u64::checked_add)
}

/// The smallest and largest sample, ignoring NaN; `None` when there is no sample.
fn min_max(samples: &[f64]) -> Option<(f64, f64)> {
    let mut numbers = samples.iter().copied().filter(|x| !x.is_nan());
    let first = numbers.next()?;
    Some(numbers.fold((first, first), |(min, max), x| (min.min(x), max.max(x))))
}

export!(Tasks);
