//! The `lambdatel-sim` binary: see `lambdatel-sim --help`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match lambdatel_sim::cli::parse_args(&args) {
        Ok(o) => o,
        Err(e) if e.is_empty() => {
            print!("{}", lambdatel_sim::cli::USAGE);
            return;
        }
        Err(e) => {
            eprintln!("lambdatel-sim: {e}\n\n{}", lambdatel_sim::cli::USAGE);
            std::process::exit(64);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lambdatel-sim: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(lambdatel_sim::cli::run(options));
    std::process::exit(code);
}
