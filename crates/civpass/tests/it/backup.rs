//! Backup and restore: online (taken while logins run), consistent (every write acknowledged
//! before it began is in it), engine-neutral (each backend's backup restores into each), and
//! careful (a damaged or cut-short file, or a database already in use, changes nothing).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use civpass_core::oidc::store::ClientStore;
use civpass_driver::backup;
use civpass_store::SqlStore;
use civpass_testkit::{TestDb, backends, spawn_server};
use tokio::sync::watch;

use crate::support::{self, AuthRequest, CALLBACK};

#[tokio::test]
async fn a_backup_taken_while_logins_run_restores_every_acknowledged_write_into_either_engine() {
    for source in backends() {
        let server = Arc::new(spawn_server(&source).await);
        let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
        let (stop, stopped) = watch::channel(false);
        // Writes go on before, during and after the backup: services registered, logins begun.
        let writer = {
            let (server, acknowledged) = (server.clone(), acknowledged.clone());
            tokio::spawn(async move {
                let browser = support::browser();
                let mut n = 0;
                while !*stopped.borrow() {
                    let created = server
                        .services
                        .oidc
                        .create_client(&format!("Service {n}"), &[CALLBACK.to_owned()], false)
                        .await
                        .unwrap();
                    acknowledged.lock().unwrap().push(created.client.id.to_string());
                    let url =
                        AuthRequest::new(&created.client.id, CALLBACK, "openid").url(&server.base);
                    let page = browser.get(url).send().await.unwrap();
                    assert!(page.status().is_success() || page.status().is_redirection());
                    n += 1;
                }
                n
            })
        };
        while acknowledged.lock().unwrap().len() < 5 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let before: Vec<String> = acknowledged.lock().unwrap().clone();
        let mut file = Vec::new();
        let summary = backup::backup(&server.db.url, &mut file).await.unwrap();
        // It kept writing meanwhile, and goes on a little after.
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(true).unwrap();
        let written = writer.await.unwrap();
        assert!(written > before.len(), "writes went on during the backup");
        assert!(summary.rows > 0 && summary.tables > 10, "{summary:?}");

        for target in backends() {
            let db = TestDb::create(&target).await;
            let restored = backup::restore(&db.url, file.as_slice()).await.unwrap();
            assert_eq!(restored, summary, "{source:?} into {target:?}");
            let store = SqlStore::connect(&db.url).await.unwrap();
            for id in &before {
                assert!(
                    store.find_client(&id.as_str().into()).await.unwrap().is_some(),
                    "{id}, acknowledged before the backup, restored ({source:?} into {target:?})"
                );
            }
            // The restored copy backs up to the same rows: nothing lost, nothing changed.
            let mut again = Vec::new();
            backup::backup(&db.url, &mut again).await.unwrap();
            let rows = |f: &[u8]| {
                String::from_utf8(f.to_vec())
                    .unwrap()
                    .lines()
                    .skip(1)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            };
            assert_eq!(rows(&again), rows(&file), "{source:?} into {target:?}");
            // A second restore into it is refused.
            let twice = backup::restore(&db.url, file.as_slice()).await;
            assert!(matches!(twice, Err(civpass_core::kernel::store::StoreError::Conflict(_))));
        }
    }
}

#[tokio::test]
async fn a_damaged_or_cut_short_backup_restores_nothing() {
    let source = backends()[0].clone();
    let server = spawn_server(&source).await;
    server.client(CALLBACK).await;
    let mut file = Vec::new();
    backup::backup(&server.db.url, &mut file).await.unwrap();
    let text = String::from_utf8(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut_short = lines[..lines.len() - 1].join("\n");
    let row = lines.iter().position(|l| l.starts_with("{\"row\"")).unwrap();
    let mut bad_value = lines.clone();
    let damaged = bad_value[row].replacen("[\"", "[42,\"", 1);
    bad_value[row] = &damaged;
    let bad_value = bad_value.join("\n");
    let newer = text.replacen("\"schema\":", "\"schema\":9", 1);
    for (what, input) in [
        ("cut short", cut_short.as_str()),
        ("a value of the wrong type", bad_value.as_str()),
        ("from a newer civpass", newer.as_str()),
        ("not a backup", "hello\n"),
        ("empty", ""),
    ] {
        for target in backends() {
            let db = TestDb::create(&target).await;
            let err = backup::restore(&db.url, input.as_bytes()).await.unwrap_err();
            assert!(!err.to_string().is_empty(), "{what}");
            // Nothing was kept: a whole backup still restores into the same database.
            backup::restore(&db.url, text.as_bytes())
                .await
                .unwrap_or_else(|e| panic!("{what} left something behind in {target:?}: {e}"));
        }
    }
}
