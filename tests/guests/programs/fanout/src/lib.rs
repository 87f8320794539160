//! Fans out through the cluster with the SDK (see `wit/world.wit`).

use wasmdask_guest::serde::Serialize;
use wasmdask_guest::{Call, ErrorKind, TaskError, cluster, log};

wasmdask_guest::wit_bindgen::generate!({
    world: "fanout",
    path: "wit",
    runtime_path: "wasmdask_guest::wit_bindgen::rt",
});

struct Fanout;

/// The arguments of `sum-range` by name: exercises the JSON-object form of an argument list.
#[derive(Serialize)]
#[serde(crate = "wasmdask_guest::serde", rename_all = "kebab-case")]
struct Range {
    start: u64,
    count: u32,
}

impl Guest for Fanout {
    fn square(x: u64) -> u64 {
        x.wrapping_mul(x)
    }

    fn sum_of_squares(n: u64) -> Result<u64, String> {
        sum_squares(1, n)
    }

    fn sum_range(start: u64, count: u32) -> Result<u64, String> {
        sum_squares(start, u64::from(count))
    }

    fn nested(groups: u32, per_group: u32) -> Result<u64, String> {
        let ranges = (0..u64::from(groups)).map(|group| Range {
            start: group * u64::from(per_group) + 1,
            count: per_group,
        });
        let sums: Vec<u64> = cluster::map_gather("sum-range", ranges)?;
        checked_sum(sums)
    }

    fn maybe_fail(i: u32) -> Result<u32, String> {
        if i.is_multiple_of(2) {
            Ok(i)
        } else {
            Err(format!("odd input {i}"))
        }
    }

    fn fail_some(n: u32) -> Result<u32, String> {
        let calls: Vec<Call<u32>> = cluster::map("maybe-fail", (0..n).map(|i| (i,)))?;
        let mut failures = 0;
        for (i, outcome) in (0..n).zip(cluster::gather(calls)) {
            match outcome {
                Ok(value) if i.is_multiple_of(2) && value == i => {}
                Err(error)
                    if !i.is_multiple_of(2)
                        && error.kind == ErrorKind::GuestError
                        && error.message.contains(&format!("odd input {i}")) =>
                {
                    failures += 1;
                }
                other => return Err(format!("maybe-fail({i}) gave an unexpected {other:?}")),
            }
        }
        Ok(failures)
    }

    fn submit_unknown() -> Result<String, String> {
        expect_failure(cluster::submit("no-such-function", ()))
    }

    fn bad_args() -> Result<String, String> {
        expect_failure(cluster::submit("square", ("not a number",)))
    }

    fn spin_for(ms: u32) -> u32 {
        let until = std::time::Instant::now() + std::time::Duration::from_millis(u64::from(ms));
        while std::time::Instant::now() < until {
            std::hint::spin_loop();
        }
        1
    }

    fn map_spin(n: u32, ms: u32) -> Result<u32, String> {
        let done: Vec<u32> = cluster::map_gather("spin-for", (0..n).map(|_| (ms,)))?;
        Ok(done.iter().sum())
    }

    fn noisy(message: String, fail: bool) -> u32 {
        log::info(&message);
        println!("stdout of {message}");
        eprintln!("stderr of {message}");
        if fail {
            panic!("{message} failed on purpose");
        }
        1
    }

    fn map_noisy(n: u32) -> Result<u32, String> {
        let calls: Vec<Call<u32>> =
            cluster::map("noisy", (0..n).map(|i| (format!("task {i}"), i % 2 == 1)))?;
        Ok(cluster::gather(calls).iter().filter(|r| r.is_err()).count() as u32)
    }

    fn tree(
        depth: u32,
        width: u32,
        fail_leaf: Option<u32>,
        first_leaf: Option<u32>,
    ) -> Result<u64, String> {
        let first = first_leaf.unwrap_or(0);
        if depth == 0 {
            return match fail_leaf {
                Some(leaf) if leaf == first => Err(format!("leaf {leaf} failed on purpose")),
                _ => Ok(1),
            };
        }
        // Leaves under each child; every leaf of the subtree must have a u32 number.
        let span = width
            .checked_pow(depth - 1)
            .filter(|span| {
                span.checked_mul(width)
                    .and_then(|n| n.checked_add(first))
                    .is_some()
            })
            .ok_or_else(|| format!("a tree of depth {depth} and width {width} is too large"))?;
        let children = (0..width).map(|i| (depth - 1, width, fail_leaf, Some(first + i * span)));
        let calls: Vec<Call<u64>> = cluster::map("tree", children)?;
        let mut leaves = 0u64;
        for (i, outcome) in cluster::gather(calls).into_iter().enumerate() {
            match outcome {
                Ok(n) => leaves += n,
                // A child's own failure reads as its message; anything else keeps its kind.
                Err(error) if error.kind == ErrorKind::GuestError => {
                    return Err(format!("tree[{i}] > {}", error.message));
                }
                Err(error) => return Err(format!("tree[{i}] > {error}")),
            }
        }
        Ok(leaves)
    }
}

/// start² + ... + (start + count - 1)², one `square` task per number.
fn sum_squares(start: u64, count: u64) -> Result<u64, String> {
    let squares: Vec<u64> = cluster::map_gather("square", (start..start + count).map(|x| (x,)))?;
    checked_sum(squares)
}

fn checked_sum(numbers: Vec<u64>) -> Result<u64, String> {
    numbers
        .into_iter()
        .try_fold(0u64, u64::checked_add)
        .ok_or_else(|| "the sum overflows u64".to_owned())
}

/// The error of a call that must fail, whether the host rejects it at submit or at gather.
fn expect_failure(call: Result<Call<u64>, TaskError>) -> Result<String, String> {
    match call.and_then(Call::result) {
        Ok(value) => Err(format!("expected the call to fail, it returned {value}")),
        Err(error) => Ok(error.to_string()),
    }
}

export!(Fanout);
