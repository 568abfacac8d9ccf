fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("RINGPOST_LOG"))
        .init();
    let path = std::env::args()
        .nth(1)
        .unwrap_or("config/ringpost.toml".into());
    let c = ringpost::config::Config::load(std::path::Path::new(&path)).unwrap();
    ringpost::shard::serve(c).unwrap();
}
