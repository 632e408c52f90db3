//! pidone: run one command as PID 1, forward every signal, reap every zombie.
//!
//! Wiring only. Signals are blocked before anything else, so none can arrive
//! unseen; then the command line is read, logging set up and the supervisor run.

use std::io::Write;
use std::process::ExitCode;

use pidone::cli::{self, Parsed};
use pidone::{logging, signals, supervise};

fn main() -> ExitCode {
    let inherited = signals::block_all();
    let config = match cli::parse(std::env::args_os().collect(), |name| std::env::var_os(name)) {
        Ok(Parsed::Run(config)) => config,
        Ok(Parsed::Print {
            text,
            to_stderr,
            code,
        }) => {
            // A closed or broken stdout (`pidone --help | head -1`) is no
            // reason to panic: the text is all pidone had to say.
            let _ = if to_stderr {
                std::io::stderr().write_all(text.as_bytes())
            } else {
                std::io::stdout().write_all(text.as_bytes())
            };
            return ExitCode::from(code);
        }
        Err(err) => {
            eprintln!("pidone: {err}");
            return ExitCode::from(err.exit_code());
        }
    };
    logging::init(config.verbosity, config.log_spec.as_deref());
    ExitCode::from(supervise::run(&config, &inherited))
}
