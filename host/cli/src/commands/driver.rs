//! `wnet driver ls|inspect|install|rm`: the drivers the controller runs, through the
//! API (so a daemon's are shown and changed in place).

use std::path::PathBuf;

use anyhow::{Context, bail};
use axum::http::Method;
use serde_json::{Value, json};

use super::network::Format;
use crate::backend::Backend;

/// `driver ls`'s flags.
#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Only the names.
    #[arg(short, long)]
    pub quiet: bool,
    /// table (default) or json.
    #[arg(long, default_value = "table")]
    pub format: Format,
}

/// `driver install`'s flags.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// The component (`.wasm`).
    pub file: PathBuf,
    /// Its manifest; default: the `.toml` beside the component.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// The name to install it under; default: the manifest's.
    #[arg(long)]
    pub name: Option<String>,
}

fn text(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        _ => String::new(),
    }
}

/// `driver ls`.
pub async fn ls(b: &Backend, args: &LsArgs) -> anyhow::Result<()> {
    let all = b.call(Method::GET, "/drivers", None).await?;
    let all = all.as_array().cloned().unwrap_or_default();
    if args.quiet {
        for d in all.iter().filter(|d| d["Status"] != "failed") {
            println!("{}", text(d, "Name"));
        }
        return Ok(());
    }
    let failed: Vec<&Value> = all.iter().filter(|d| d["Status"] == "failed").collect();
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&all)?),
        Format::Table => {
            let rows: Vec<[String; 6]> = all
                .iter()
                .filter(|d| d["Status"] != "failed")
                .map(|d| {
                    [
                        text(d, "Name"),
                        text(d, "Kind"),
                        text(d, "Scope"),
                        text(d, "Capabilities"),
                        text(d, "Source"),
                        text(d, "Description"),
                    ]
                })
                .collect();
            super::print_table(
                [
                    "NAME",
                    "KIND",
                    "SCOPE",
                    "CAPABILITIES",
                    "SOURCE",
                    "DESCRIPTION",
                ],
                &rows,
            );
        }
    }
    for d in &failed {
        eprintln!(
            "wnet: driver `{}` in the drivers folder is not loaded: {}",
            text(d, "Name"),
            text(d, "Error")
        );
    }
    if !failed.is_empty() {
        bail!(
            "{} driver(s) of the drivers folder could not be loaded",
            failed.len()
        );
    }
    Ok(())
}

/// `driver inspect`: a JSON array (a name that is both a network and an IPAM
/// driver's, as `null`, gives both).
pub async fn inspect(b: &Backend, names: &[String]) -> anyhow::Result<()> {
    super::inspect_each(b, "/drivers", names).await
}

/// `driver install`: prints the name it was installed under.
pub async fn install(b: &Backend, args: &InstallArgs) -> anyhow::Result<()> {
    // The daemon may run in another directory: it gets absolute paths.
    let absolute = |p: &PathBuf| {
        std::path::absolute(p)
            .with_context(|| format!("{}", p.display()))
            .map(|p| p.display().to_string())
    };
    if !args.file.exists() {
        bail!("{}: no such file", args.file.display());
    }
    let body = json!({
        "Component": absolute(&args.file)?,
        "Manifest": args.manifest.as_ref().map(absolute).transpose()?,
        "Name": args.name,
    });
    let answer = b
        .call(Method::POST, "/drivers/install", Some(&body))
        .await?;
    println!("{}", answer["Name"].as_str().unwrap_or_default());
    Ok(())
}

/// `driver enable`: prints each name, with what it was.
pub async fn enable(b: &Backend, names: &[String]) -> anyhow::Result<()> {
    for name in names {
        let answer = b
            .call(Method::POST, &format!("/drivers/{name}/enable"), None)
            .await?;
        let was = if answer["WasQuarantined"].as_bool() == Some(true) {
            "was quarantined"
        } else {
            "was not quarantined"
        };
        println!("{name}: enabled ({was})");
    }
    Ok(())
}

/// `driver rm`.
pub async fn rm(b: &Backend, names: &[String]) -> anyhow::Result<()> {
    super::remove_each(b, "/drivers", "drivers", names).await
}
