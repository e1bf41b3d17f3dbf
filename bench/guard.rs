//! Benchmarks that empty tables run only against a scratch database: one whose name says
//! `bench`. `bench/guard.sh` makes the same check before the release build.

/// `Ok` when the database `url` names (its path, or a `dbname` parameter) contains `bench`.
/// The error names the database, never the rest of the URL (it may hold a password).
pub fn require_bench_database(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|_| "DATABASE_URL is not a URL".to_string())?;
    let name = parsed
        .query_pairs()
        .find(|(key, _)| key == "dbname")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| parsed.path().trim_start_matches('/').to_string());
    if name.contains("bench") {
        Ok(())
    } else {
        Err(format!(
            "refusing to run: this benchmark empties tables of database `{name}`; point \
             DATABASE_URL at a scratch database whose name contains `bench`"
        ))
    }
}
