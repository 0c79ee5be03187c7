//! `tandem validate [--online] [DIR...]`: check manifests without running anything.

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{ValidateArgs, EXIT_USAGE};
use crate::manifest::{collect_files, validate};

/// Prints every diagnostic and a summary; exit 0 valid (warnings allowed), 1 invalid,
/// 2 usage or I/O error.
pub fn run(args: ValidateArgs) -> ExitCode {
    let dirs = if args.dirs.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.dirs
    };
    let mut files = Vec::new();
    // Overlapping arguments (`. sub`) must not make every resource look declared twice.
    let mut seen = HashSet::new();
    for dir in &dirs {
        match collect_files(dir) {
            Ok(found) => files.extend(
                found
                    .into_iter()
                    .filter(|f| seen.insert(fs::canonicalize(&f.path).unwrap_or(f.path.clone()))),
            ),
            Err(e) => {
                eprintln!("error: {}", super::error_chain(&e));
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    if files.is_empty() {
        eprintln!("warning: no .yaml or .yml files found");
    }
    let mut result = validate(&files);
    if args.online && result.is_valid() {
        let secrets =
            crate::reconcile::SecretResolver::new(super::online::secret_dirs(args.secrets));
        let runtime = match super::runtime(false, ExitCode::from(EXIT_USAGE)) {
            Ok(rt) => rt,
            Err(code) => return code,
        };
        let online = runtime.block_on(super::online::check(&result.model, &secrets));
        result.diagnostics.extend(online);
    } else if args.online {
        eprintln!("note: online checks skipped until the manifests are valid");
    }
    for diagnostic in &result.diagnostics {
        println!("{diagnostic}");
    }
    let errors = result.error_count();
    let warnings = result.warning_count();
    let resources = result.model.len();
    println!(
        "{}: {} in {}, {} and {}",
        if errors == 0 { "valid" } else { "invalid" },
        plural(resources, "valid resource"),
        plural(files.len(), "file"),
        plural(errors, "error"),
        plural(warnings, "warning"),
    );
    if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}
