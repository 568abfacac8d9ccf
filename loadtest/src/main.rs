use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = loadtest::cli::Cli::parse();
    let json = cli.command.opts().json;
    match loadtest::run(cli.command) {
        Ok(report) => {
            if json {
                match report.json() {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("loadtest: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{}", report.text());
            }
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("loadtest: {msg}");
            ExitCode::from(2)
        }
    }
}
