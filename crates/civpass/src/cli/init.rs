//! `civpass init`: creates the platform without running it.

use civpass_driver::Config;

use crate::config::StorageArgs;

/// `civpass init`: creates the platform (data directory, master key, database, signing keys),
/// or says it is there already.
pub(crate) async fn init(storage: StorageArgs, file: &Config) -> anyhow::Result<()> {
    let storage = storage.over(file).storage;
    let created = civpass_driver::create_platform(&storage).await?;
    let place = if storage.database_url().starts_with("postgres") {
        "the PostgreSQL database".to_owned()
    } else {
        storage.data_dir.display().to_string()
    };
    if created {
        println!("created a civpass platform in {place}");
        println!("run `civpass serve` (with the same --data-dir or --database-url) to start it");
    } else {
        println!("a civpass platform is already in {place}; nothing changed");
    }
    Ok(())
}
