//! `wnet sandbox …`: network namespaces for people without a container engine.

use axum::http::Method;
use serde_json::json;

use crate::backend::Backend;

/// `sandbox create`: prints the namespace's path.
pub async fn create(b: &Backend, name: &str) -> anyhow::Result<()> {
    let answer = b
        .call(
            Method::POST,
            "/sandboxes/create",
            Some(&json!({ "Name": name })),
        )
        .await?;
    println!("{}", answer["Key"].as_str().unwrap_or_default());
    Ok(())
}

/// `sandbox ls`.
pub async fn ls(b: &Backend, quiet: bool) -> anyhow::Result<()> {
    let all = b.call(Method::GET, "/sandboxes", None).await?;
    let rows: Vec<(String, String, String)> = all
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let networks: Vec<&str> = s["Endpoints"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["Network"].as_str())
                .collect();
            (
                s["Id"].as_str().unwrap_or_default().to_owned(),
                s["Key"].as_str().unwrap_or_default().to_owned(),
                networks.join(","),
            )
        })
        .collect();
    if quiet {
        for (id, _, _) in &rows {
            println!("{id}");
        }
        return Ok(());
    }
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(7);
    let k = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(3);
    println!("{:<w$}   {:<k$}   NETWORKS", "SANDBOX", "KEY");
    for (id, key, nets) in rows {
        println!("{id:<w$}   {key:<k$}   {nets}");
    }
    Ok(())
}

/// `sandbox inspect`: a JSON array.
pub async fn inspect(b: &Backend, names: &[String]) -> anyhow::Result<()> {
    super::inspect_each(b, "/sandboxes", names).await
}

/// `sandbox rm`: its endpoints leave and go, then its namespace (if wnet made it).
pub async fn rm(b: &Backend, names: &[String]) -> anyhow::Result<()> {
    super::remove_each(b, "/sandboxes", "sandboxes", names).await
}
