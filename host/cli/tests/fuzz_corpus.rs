//! Replays the config fuzz seeds (`fuzz/seeds/config/`: the README's example, and
//! every finding once fixed) against the property the fuzz target checks.
#![allow(clippy::unwrap_used, missing_docs, reason = "a test")]

use std::path::Path;

#[test]
fn the_config_corpus_holds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/config");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| wnet_cli::fuzzing::config(&data));
        assert!(outcome.is_ok(), "{}: the property fails", path.display());
        n += 1;
    }
    assert!(n >= 4);
}

/// The README's example config file (a seed above) is one wnet accepts.
#[test]
fn the_readme_config_example_is_accepted() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let start = readme.find("```toml\ndata-dir").unwrap() + "```toml\n".len();
    let text = &readme[start..start + readme[start..].find("```").unwrap()];
    let file: wnet_cli::config::File = toml::from_str(text).unwrap();
    let s = wnet_cli::config::Settings::from_file(
        file,
        wnet_cli::config::Overrides::default(),
        Path::new("README.md"),
    )
    .unwrap();
    assert_eq!(s.default_address_pools.len(), 1);
    assert_eq!(
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/config/readme.toml")
        )
        .unwrap(),
        text,
        "the seed is the README's example"
    );
}
