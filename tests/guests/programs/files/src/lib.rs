//! Flyte data as files (see `wit/world.wit`).

use std::fs;
use wasmdask_guest::cluster;

wasmdask_guest::wit_bindgen::generate!({
    world: "files",
    path: "wit",
    runtime_path: "wasmdask_guest::wit_bindgen::rt",
});

struct Files;

/// `line-sum`'s argument in the binary encoding: the `file` record's fields in WIT order.
#[derive(wasmdask_guest::serde::Serialize)]
#[serde(crate = "wasmdask_guest::serde")]
struct FileArg {
    path: String,
    uri: String,
    format: String,
}

fn sum_lines(text: &str) -> Result<i64, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().parse::<i64>().map_err(|e| format!("`{l}`: {e}")))
        .sum()
}

fn names(dir: &str) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(|e| format!("cannot list {dir}: {e}"))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    names.sort();
    Ok(names)
}

impl Guest for Files {
    fn later(start: Datetime, step: Duration) -> Datetime {
        let nanos = i64::from(start.nanos) + i64::from(step.nanos);
        let seconds = start.unix_seconds + step.seconds + nanos.div_euclid(1_000_000_000);
        Datetime {
            unix_seconds: seconds,
            nanos: nanos.rem_euclid(1_000_000_000) as u32,
        }
    }

    fn line_sum(shard: File) -> Result<i64, String> {
        let text = fs::read_to_string(&shard.path)
            .map_err(|e| format!("cannot read {}: {e}", shard.path))?;
        sum_lines(&text)
    }

    fn shard_sums(shards: Directory) -> Result<File, String> {
        let names = names(&shards.dir_path)?;
        let args = names.iter().map(|name| {
            (FileArg {
                path: String::new(),
                uri: format!("{}/{name}", shards.uri.trim_end_matches('/')),
                format: String::new(),
            },)
        });
        let sums: Vec<i64> = cluster::map_gather("line-sum", args)?;
        let mut out = String::new();
        for (name, sum) in names.iter().zip(sums) {
            out += &format!("{name},{sum}\n");
        }
        fs::write("/outputs/sums.csv", out).map_err(|e| format!("cannot write: {e}"))?;
        Ok(File {
            path: "/outputs/sums.csv".into(),
            uri: String::new(),
            format: "csv".into(),
        })
    }

    fn double_dir(src: Directory) -> Result<Directory, String> {
        fs::create_dir_all("/outputs/copy").map_err(|e| e.to_string())?;
        for name in names(&src.dir_path)? {
            let text = fs::read_to_string(format!("{}/{name}", src.dir_path))
                .map_err(|e| e.to_string())?;
            let doubled: String = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| format!("{}\n", 2 * l.trim().parse::<i64>().unwrap_or(0)))
                .collect();
            fs::write(format!("/outputs/copy/{name}"), doubled).map_err(|e| e.to_string())?;
        }
        Ok(Directory {
            dir_path: "/outputs/copy".into(),
            uri: String::new(),
            format: String::new(),
        })
    }

    fn copy_table(table: StructuredDataset) -> Result<StructuredDataset, String> {
        fs::create_dir_all("/outputs/table").map_err(|e| e.to_string())?;
        for name in names(&table.dataset_path)? {
            fs::copy(
                format!("{}/{name}", table.dataset_path),
                format!("/outputs/table/{name}"),
            )
            .map_err(|e| format!("cannot copy {name}: {e}"))?;
        }
        Ok(StructuredDataset {
            dataset_path: "/outputs/table".into(),
            uri: String::new(),
            format: "parquet".into(),
        })
    }

    fn size(f: File) -> Result<u64, String> {
        fs::metadata(&f.path)
            .map(|m| m.len())
            .map_err(|e| format!("cannot stat {}: {e}", f.path))
    }

    fn claim(path: String) -> File {
        File {
            path,
            uri: String::new(),
            format: String::new(),
        }
    }
}

export!(Files);
