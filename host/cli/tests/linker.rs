//! scripts/linker, the linker of release builds: the order it gives lld for the
//! functions one-shot commands run (host/cli/hot-symbols.txt). A mistake there does not
//! fail a build, it only makes every `wnet` invocation slower, so its matching is
//! checked here on names shaped like rustc's.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn linker() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/linker")
}

/// Runs the script with `args`, `input` on stdin; its stdout as lines.
fn run(args: &[&str], input: &str) -> Vec<String> {
    let mut child = Command::new(linker())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("scripts/linker runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.as_bytes())
        .expect("scripts/linker reads its input");
    let out = child.wait_with_output().expect("scripts/linker ends");
    assert!(out.status.success(), "scripts/linker {args:?} failed");
    String::from_utf8(out.stdout)
        .expect("names are UTF-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_list_keeps_names_without_thinlto_suffixes() {
    let names = "_ZN4wnet4main17h0123456789abcdefE.llvm.1234567\n\
                 _RNvCs1a2B_4wnet3run\n";
    assert_eq!(
        run(&["--normalize"], names),
        ["_ZN4wnet4main17h0123456789abcdefE", "_RNvCs1a2B_4wnet3run"]
    );
}

#[test]
fn functions_are_ordered_as_listed_exact_names_first_then_any_instance() {
    let hot = std::env::temp_dir().join(format!("wnet-hot-symbols-{}.txt", std::process::id()));
    std::fs::write(
        &hot,
        "# a comment\n\
         _ZN4redb4open17h1111111111111111E\n\
         _ZN5tokio4poll17h2222222222222222E\n\
         _RNvCsOld_4wnet7connect\n\
         _ZN4core3fmt5write17h3333333333333333E\n",
    )
    .unwrap();
    // `nm -P` lines (name, type, value, size) in the objects' order, not the list's.
    let symbols = "\
_ZN4core3fmt5write17h3333333333333333E.llvm.99 t 0 10
_ZN4core3fmt5write17h4444444444444444E T 0 10
_RNvCsNew_4wnet7connect T 0 10
_ZN5tokio4poll17h5555555555555555E t 0 10
_ZN5tokio4poll17h6666666666666666E t 0 10
_ZN4wnet4cold17h7777777777777777E T 0 10
_ZN4redb4open17h1111111111111111E T 0 10
_ZN4redb4open17h1111111111111111E T 0 10
_ZN4redb5TABLE17h8888888888888888E D 0 10
";
    let order = run(&["--order", hot.to_str().unwrap()], symbols);
    std::fs::remove_file(&hot).unwrap();
    assert_eq!(
        order,
        [
            // Listed first, found by its exact name.
            "_ZN4redb4open17h1111111111111111E",
            // Its hash changed (a dependency upgraded): every instance of it.
            "_ZN5tokio4poll17h5555555555555555E",
            "_ZN5tokio4poll17h6666666666666666E",
            // Its crate's disambiguator changed.
            "_RNvCsNew_4wnet7connect",
            // Found exactly despite ThinLTO's suffix; its other instance is not listed.
            "_ZN4core3fmt5write17h3333333333333333E.llvm.99",
        ]
    );
}
