//! What the attach benchmarks share: their command line, their repetitions and the
//! peers' table layout.

/// One repetition's timings of a benchmark's two phases.
pub struct Rep {
    /// The attach phase, ms.
    pub attach_ms: f64,
    /// The detach phase, ms.
    pub detach_ms: f64,
}

/// The container counts and repetitions the command line and `REPS` ask for, or `None`
/// when `cargo bench` passes a name filter that is not `name` (the bench then skips).
pub fn plan(name: &str, default_sizes: &[usize]) -> Option<(Vec<usize>, usize)> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args
        .iter()
        .any(|a| !a.starts_with('-') && a.parse::<usize>().is_err() && !name.contains(a.as_str()))
    {
        return None;
    }
    let mut sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = default_sizes.to_vec();
    }
    let reps = std::env::var("REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    Some((sizes, reps))
}

/// The header of the peers' table.
pub fn header() -> String {
    format!(
        "{:<12} {:>5} {:>4} {:>10} {:>10} {:>10} {:>10}",
        "peer", "N", "reps", "attach ms", "att ms/ctr", "detach ms", "det ms/ctr"
    )
}

/// A row of the peers' table: the medians of `runs` for `n` containers.
pub fn row(variant: &str, n: usize, runs: &[Rep]) -> String {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let attach = median(runs.iter().map(|r| r.attach_ms).collect());
    let detach = median(runs.iter().map(|r| r.detach_ms).collect());
    format!(
        "{:<12} {:>5} {:>4} {:>10.1} {:>10.2} {:>10.1} {:>10.2}",
        variant,
        n,
        runs.len(),
        attach,
        attach / n as f64,
        detach,
        detach / n as f64
    )
}
