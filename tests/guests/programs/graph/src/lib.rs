//! Task graphs through the cluster (see `wit/world.wit`): futures as arguments.

use wasmdask_guest::cluster::{self, Arg};
use wasmdask_guest::{Call, TaskError};

wasmdask_guest::wit_bindgen::generate!({
    world: "graph",
    path: "wit",
    runtime_path: "wasmdask_guest::wit_bindgen::rt",
});

struct Graph;

impl Guest for Graph {
    fn inc(x: u64) -> u64 {
        x + 1
    }

    fn floats(len: u32, seed: u32) -> Vec<f64> {
        let base = f64::from(seed) * f64::from(len);
        (0..len).map(|k| (base + f64::from(k)) / 2.0).collect()
    }

    fn scale(xs: Vec<f64>, k: f64) -> Vec<f64> {
        xs.into_iter().map(|x| x * k).collect()
    }

    fn add_lists(a: Vec<f64>, b: Vec<f64>) -> Result<Vec<f64>, String> {
        if a.len() != b.len() {
            return Err(format!("lengths differ: {} and {}", a.len(), b.len()));
        }
        Ok(a.into_iter().zip(b).map(|(x, y)| x + y).collect())
    }

    fn total(xs: Vec<f64>) -> f64 {
        xs.iter().sum()
    }

    fn big_chain(len: u32, steps: u32) -> Result<f64, String> {
        let mut xs: Call<Vec<f64>> = cluster::submit("floats", (len, 1u32))?;
        for _ in 0..steps {
            xs = cluster::submit_with("scale", [xs.arg(), Arg::value(&2.0f64)?])?;
        }
        Ok(cluster::submit_with::<f64>("total", [xs.arg()])?.result()?)
    }

    fn tree_sum(count: u32, len: u32) -> Result<f64, String> {
        let mut level: Vec<Call<Vec<f64>>> = cluster::map("floats", (0..count).map(|i| (len, i)))?;
        while level.len() > 1 {
            let mut next = Vec::with_capacity(level.len().div_ceil(2));
            let mut pairs = level.into_iter();
            while let Some(a) = pairs.next() {
                match pairs.next() {
                    Some(b) => next.push(cluster::submit_with("add-lists", [a.arg(), b.arg()])?),
                    None => next.push(a),
                }
            }
            level = next;
        }
        let Some(all) = level.pop() else {
            return Ok(0.0);
        };
        Ok(cluster::submit_with::<f64>("total", [all.arg()])?.result()?)
    }

    fn sum_lists(parts: Vec<Vec<f64>>) -> f64 {
        parts.iter().flatten().sum()
    }

    fn gather_sum(count: u32, len: u32) -> Result<f64, String> {
        let parts: Vec<Call<Vec<f64>>> = cluster::map("floats", (0..count).map(|i| (len, i)))?;
        Ok(cluster::submit_with::<f64>("sum-lists", [Arg::calls(&parts)])?.result()?)
    }

    fn boom() -> Result<u64, String> {
        Err("boom on purpose".into())
    }

    fn failed_input() -> Result<String, String> {
        let boom: Call<u64> = cluster::submit("boom", ())?;
        let once: Call<u64> = cluster::submit_with("inc", [boom.arg()])?;
        let twice: Call<u64> = cluster::submit_with("inc", [once.arg()])?;
        match twice.result() {
            Ok(value) => Err(format!("inc(inc(boom())) returned {value}")),
            Err(error) => Ok(said(&error)),
        }
    }

    fn bad_handles() -> Result<Vec<String>, String> {
        let mut said_errors = Vec::new();
        let mut expect_error = |what: &str, outcome: Result<Call<u64>, TaskError>| match outcome {
            Ok(call) => Err(format!("{what} was accepted as call {}", call.id())),
            Err(error) => {
                said_errors.push(said(&error));
                Ok(())
            }
        };
        let inc = |id: u64| cluster::submit_with::<u64>("inc", [Arg::handle(id)]);

        let taken: Call<u64> = cluster::submit("inc", (1u64,))?;
        let taken_id = taken.id();
        taken.result()?;
        expect_error("a taken handle", inc(taken_id))?;

        let released: Call<u64> = cluster::submit("inc", (1u64,))?;
        let released_id = released.id();
        released.release();
        expect_error("a released handle", inc(released_id))?;

        // Another execution's handle: a number whose high half is not this execution's tag.
        let ours: Call<u64> = cluster::submit("inc", (1u64,))?;
        let foreign = ours.id() ^ (0xdead_beef << 32);
        expect_error("another execution's handle", inc(foreign))?;

        let floats: Call<Vec<f64>> = cluster::submit("floats", (4u32, 0u32))?;
        expect_error(
            "a list<f64> result for a u64 parameter",
            cluster::submit_with("inc", [floats.arg()]),
        )?;
        expect_error(
            "two arguments for one parameter",
            cluster::submit_with("inc", [ours.arg(), ours.arg()]),
        )?;
        expect_error(
            "a list of results for a u64 parameter",
            cluster::submit_with("inc", [Arg::calls([&ours])]),
        )?;
        // The handles passed to failed submits are still good.
        let fine: u64 = cluster::submit_with::<u64>("inc", [ours.arg()])?.result()?;
        if fine != 3 {
            return Err(format!("inc(inc(1)) returned {fine}"));
        }
        Ok(said_errors)
    }

    fn slow_inc(x: u64, ms: u32) -> u64 {
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_millis(u64::from(ms)) {
            std::hint::spin_loop();
        }
        x + 1
    }

    fn many_chains(n: u32, len: u32, ms: u32) -> Result<u64, String> {
        let step = |ends: &[Call<u64>]| -> Result<Vec<Call<u64>>, TaskError> {
            if ms == 0 {
                return cluster::map_with("inc", ends.iter().map(|end| vec![end.arg()]));
            }
            let args = ends
                .iter()
                .map(|end| Ok(vec![end.arg(), Arg::value(&ms)?]))
                .collect::<Result<Vec<_>, TaskError>>()?;
            cluster::map_with("slow-inc", args)
        };
        let mut ends: Vec<Call<u64>> = if ms == 0 {
            cluster::map("inc", (0..n).map(|_| (0u64,)))?
        } else {
            cluster::map("slow-inc", (0..n).map(|_| (0u64, ms)))?
        };
        for _ in 1..len {
            ends = step(&ends)?;
        }
        let values = cluster::gather(ends);
        values
            .into_iter()
            .try_fold(0u64, |sum, value| Ok(sum + value?))
    }
}

/// "kind: message", as the host tests compare it.
fn said(error: &TaskError) -> String {
    format!("{}: {}", error.kind, error.message)
}

export!(Graph);
