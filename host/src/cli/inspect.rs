//! `wasmdask inspect`: what a component is and what it offers, before anyone runs it.

use super::Failure;
use clap::Args;
use serde_json::json;
use std::path::PathBuf;
use wasmdask_flyte::Dask;
use wasmdask_flyte::idl::to_json;
use wasmdask_flyte::template::{TemplateOptions, task_spec};
use wasmdask_runner::task::inspect_component;
use wasmdask_sandbox::{LoadedComponent, TaskSig};
use wasmdask_values::{flyte_type, wit_type};

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The task component (.wasm).
    pub component: PathBuf,

    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn inspect(args: InspectArgs) -> Result<(), Failure> {
    let component = inspect_component(&args.component)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&describe(&component)).unwrap_or_default()
        );
    } else {
        print_text(&args.component, &component);
    }
    Ok(())
}

/// The JSON description of a component (`inspect --json`).
pub fn describe(component: &LoadedComponent) -> serde_json::Value {
    json!({
        "digest": component.digest,
        "size": component.bytes.len(),
        "language": component.runtime.name(),
        "tasks": component.tasks.iter().map(describe_task).collect::<Vec<_>>(),
        "imports": component.imports,
    })
}

fn describe_task(task: &TaskSig) -> serde_json::Value {
    json!({
        "name": task.name,
        "params": task.params.iter().map(|(name, ty)| json!({
            "name": name,
            "wit": wit_type(ty),
            "flyte": flyte_type(ty).to_string(),
        })).collect::<Vec<_>>(),
        "result": task.result.as_ref().map(wit_type),
        "output": task.output_type().map(|ty| json!({
            "name": "o0",
            "wit": wit_type(&ty),
            "flyte": flyte_type(&ty).to_string(),
        })),
        "interface": flyte_interface(task),
    })
}

/// The task's Flyte `TypedInterface` (proto3 JSON) exactly as `serialize` writes it, so the
/// flytekit plugin (`plugins/flytekit-wasmdask`) declares the literal types `execute` reads
/// instead of re-deriving them from the WIT text.
fn flyte_interface(task: &TaskSig) -> serde_json::Value {
    let options = TemplateOptions {
        image: String::new(),
        name_prefix: String::new(),
        project: String::new(),
        domain: String::new(),
        version: String::new(),
        component_uri: String::new(),
        digest: String::new(),
        requests: None,
        limits: None,
        pod_template: None,
    };
    task_spec(task, &Dask::default(), &options)
        .template
        .and_then(|template| template.interface)
        .map_or(serde_json::Value::Null, |interface| {
            to_json(&interface, "flyteidl.core.TypedInterface")
        })
}

fn print_text(path: &std::path::Path, component: &LoadedComponent) {
    println!("component  {}", path.display());
    println!("digest     {}", component.digest);
    println!("size       {} bytes", component.bytes.len());
    println!("language   {}", component.runtime);
    println!("tasks      {}", component.tasks.len());
    for task in &component.tasks {
        let params: Vec<String> = task
            .params
            .iter()
            .map(|(name, ty)| format!("{name}: {}", wit_type(ty)))
            .collect();
        let result = task
            .result
            .as_ref()
            .map(|ty| format!(" -> {}", wit_type(ty)))
            .unwrap_or_default();
        println!("  {}: func({}){result}", task.name, params.join(", "));
        for (name, ty) in &task.params {
            println!("      input  {name:<12} {}", flyte_type(ty));
        }
        if let Some(ty) = task.output_type() {
            println!("      output {:<12} {}", "o0", flyte_type(&ty));
        }
    }
    println!("imports");
    for import in &component.imports {
        println!("  {import}");
    }
}
