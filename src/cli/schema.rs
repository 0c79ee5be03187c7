//! `tandem schema [--out DIR]`: write the JSON Schema of every manifest kind.

use std::process::ExitCode;

use super::{SchemaArgs, EXIT_USAGE};
use crate::manifest::schema::write_all;

pub fn run(args: SchemaArgs) -> ExitCode {
    match write_all(&args.out) {
        Ok(files) => {
            for file in files {
                println!("wrote {}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write schemas to {}: {e}", args.out.display());
            ExitCode::from(EXIT_USAGE)
        }
    }
}
