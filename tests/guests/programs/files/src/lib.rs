//! Flyte data as files (see `wit/world.wit`): the records come from the SDK's `data` module, so
//! its helpers apply to them.

mod table;

use std::fs;
use wasmdask_guest::cluster;

wasmdask_guest::wit_bindgen::generate!({
    world: "test:files/files",
    path: ["../../../../wit", "wit"],
    with: { "wasmdask:task/data@0.1.3": wasmdask_guest::data },
    runtime_path: "wasmdask_guest::wit_bindgen::rt",
});
// The world's `use` makes `File`, `Directory`, ... here aliases of `wasmdask_guest::data`'s.

struct Files;

/// What `trespass` tries, and the trying.
type Attempt = (String, Box<dyn Fn() -> std::io::Result<()>>);

fn sum_lines(text: &str) -> Result<i64, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().parse::<i64>().map_err(|e| format!("`{l}`: {e}")))
        .sum()
}

impl Guest for Files {
    fn later(start: Datetime, step: Duration) -> Datetime {
        start
            .checked_add(step)
            .expect("the test's datetimes are far from the ends of the range")
    }

    fn line_sum(shard: File) -> Result<i64, String> {
        sum_lines(&shard.read_to_string()?)
    }

    fn shard_sums(shards: Directory) -> Result<File, String> {
        let names = shards.file_names()?;
        // Each subtask gets one shard by URI and fetches only that one.
        let args = names.iter().map(|name| (shards.file_by_uri(name),));
        let sums: Vec<i64> = cluster::map_gather("line-sum", args)?;
        let lines: String = names
            .iter()
            .zip(sums)
            .map(|(name, sum)| format!("{name},{sum}\n"))
            .collect();
        Ok(File::create_output("sums.csv", "csv", lines)?)
    }

    fn double_dir(src: Directory) -> Result<Directory, String> {
        let copy = Directory::create_output("copy", "")?;
        for name in src.file_names()? {
            let text = fs::read_to_string(src.path_of(&name)).map_err(|e| e.to_string())?;
            let doubled: String = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| format!("{}\n", 2 * l.trim().parse::<i64>().unwrap_or(0)))
                .collect();
            fs::write(copy.path_of(&name), doubled).map_err(|e| e.to_string())?;
        }
        Ok(copy)
    }

    fn filter_table(table: StructuredDataset, every: i64) -> Result<StructuredDataset, String> {
        if every <= 0 {
            return Err(format!("`every` must be positive, not {every}"));
        }
        let mut kept = table::Filtered::default();
        for path in table.files()? {
            // Errors name the file by its URI, which the workflow's author knows.
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let label = format!("{}/{name}", table.uri.trim_end_matches('/'));
            let (ids, amounts) = table::read(&path, &label)?;
            for (id, amount) in ids.into_iter().zip(amounts) {
                if id % every == 0 {
                    kept.id.push(id);
                    kept.amount.push(amount);
                    // `id` is far below 2^53 in the tests: exact as a double.
                    #[allow(clippy::cast_precision_loss)]
                    kept.total.push(id as f64 + amount);
                }
            }
        }
        let out = StructuredDataset::create_output("filtered")?;
        table::write(
            &std::path::Path::new(&out.dataset_path).join("part-0.parquet"),
            &kept,
        )?;
        Ok(out)
    }

    fn size(f: File) -> Result<u64, String> {
        fs::metadata(&f.path)
            .map(|m| m.len())
            .map_err(|e| format!("cannot stat {}: {e}", f.path))
    }

    fn trespass(src: Directory) -> Result<(Vec<String>, String), String> {
        let first = src
            .file_names()?
            .into_iter()
            .next()
            .ok_or("the directory is empty")?;
        let dir = src.dir_path.clone();
        let inside = src.path_of(&first).display().to_string();
        let attempts: Vec<Attempt> = vec![
            (
                format!("create {dir}/new.txt"),
                Box::new({
                    let dir = dir.clone();
                    move || fs::write(format!("{dir}/new.txt"), "x")
                }),
            ),
            (
                format!("overwrite {inside}"),
                Box::new({
                    let inside = inside.clone();
                    move || fs::write(&inside, "overwritten")
                }),
            ),
            (
                format!("truncate {inside}"),
                Box::new({
                    let inside = inside.clone();
                    move || fs::OpenOptions::new().write(true).open(&inside)?.set_len(0)
                }),
            ),
            (
                format!("delete {inside}"),
                Box::new({
                    let inside = inside.clone();
                    move || fs::remove_file(&inside)
                }),
            ),
            (
                format!("mkdir {dir}/sub"),
                Box::new({
                    let dir = dir.clone();
                    move || fs::create_dir(format!("{dir}/sub"))
                }),
            ),
            (
                format!("read {dir}/../../../etc/passwd"),
                Box::new({
                    let dir = dir.clone();
                    move || fs::read(format!("{dir}/../../../etc/passwd")).map(drop)
                }),
            ),
            (
                "read /etc/passwd".to_string(),
                Box::new(|| fs::read("/etc/passwd").map(drop)),
            ),
            (
                format!("list {dir}/.."),
                Box::new({
                    let dir = dir.clone();
                    move || fs::read_dir(format!("{dir}/..")).map(drop)
                }),
            ),
        ];
        let succeeded = attempts
            .into_iter()
            .filter(|(_, attempt)| attempt().is_ok())
            .map(|(what, _)| what)
            .collect();
        let text = fs::read_to_string(&inside).map_err(|e| format!("cannot read {inside}: {e}"))?;
        Ok((succeeded, text))
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
