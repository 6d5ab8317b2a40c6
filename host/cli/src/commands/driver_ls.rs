//! `wnet driver ls`: the built-in drivers and a drivers folder's, from their manifests.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use wnet_runtime::Manifest;

struct Row {
    name: String,
    kind: String,
    scope: String,
    capabilities: String,
    source: String,
    description: String,
}

impl Row {
    fn new(m: &Manifest, source: String) -> Self {
        Row {
            name: m.name.clone(),
            kind: m.kind.to_string(),
            scope: m.scope.to_string(),
            capabilities: m
                .capabilities
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            source,
            description: m.description.clone(),
        }
    }
}

/// Lists drivers; a folder's driver whose manifest is missing or invalid is listed
/// with the problem, and the command fails.
pub fn run(drivers_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    for b in wnet_drivers::BUILTINS {
        let m = b
            .manifest()
            .with_context(|| format!("built-in driver {}", b.package))?;
        rows.push(Row::new(&m, "built-in".to_owned()));
    }
    let mut problems = Vec::new();
    if let Some(dir) = drivers_dir {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read drivers folder {}", dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            .collect();
        entries.sort();
        for wasm in entries {
            let toml = wasm.with_extension("toml");
            let parsed = std::fs::read_to_string(&toml)
                .map_err(anyhow::Error::from)
                .and_then(|t| Manifest::parse(&t).map_err(anyhow::Error::from));
            match parsed {
                Ok(m) => rows.push(Row::new(&m, wasm.display().to_string())),
                Err(e) => problems.push(format!("{}: {e:#}", toml.display())),
            }
        }
    }
    let widths = [
        rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(4),
        rows.iter().map(|r| r.kind.len()).max().unwrap_or(0).max(4),
        rows.iter().map(|r| r.scope.len()).max().unwrap_or(0).max(5),
        rows.iter()
            .map(|r| r.capabilities.len())
            .max()
            .unwrap_or(0)
            .max(12),
        rows.iter()
            .map(|r| r.source.len())
            .max()
            .unwrap_or(0)
            .max(6),
    ];
    let line = |c: [&str; 6]| {
        format!(
            "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {:w4$}  {}",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4]
        )
        .trim_end()
        .to_owned()
    };
    println!(
        "{}",
        line([
            "NAME",
            "KIND",
            "SCOPE",
            "CAPABILITIES",
            "SOURCE",
            "DESCRIPTION"
        ])
    );
    for r in &rows {
        println!(
            "{}",
            line([
                &r.name,
                &r.kind,
                &r.scope,
                &r.capabilities,
                &r.source,
                &r.description
            ])
        );
    }
    for p in &problems {
        eprintln!("wnet: invalid driver manifest: {p}");
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
