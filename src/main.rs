//! The `tocsin` command: parse arguments, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = tocsin::cli::Cli::parse_from(tocsin::cli::hoist_node_flags(std::env::args_os()));
    tocsin::cli::exit(tocsin::cli::run(cli))
}
