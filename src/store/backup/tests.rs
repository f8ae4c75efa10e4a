//! Tests of [`Store::backup`]: a copy taken while a writer inserts holds exactly the log up to
//! its head, undamaged; a target in use is refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;
use crate::message::{Filter, Id};
use crate::store::tests::{T0, headline_alert, key};
use crate::store::{Inserted, Origin, View};

fn open(path: &Path) -> Store {
    Store::open(&StoreConfig {
        path: path.to_path_buf(),
        cache_bytes: 8 * 1024 * 1024,
        // Small segments, so the body log has sealed ones to copy before the pause.
        segment_bytes: 8 * 1024,
        reserve_bytes: 0,
        ..StoreConfig::default()
    })
    .unwrap()
}

/// The ids and seqs in a store's log, in log order.
fn log_of(store: &Store) -> Vec<(u64, Id)> {
    let (entries, _) = store
        .read(
            0,
            &Filter::default(),
            &View::Peer {
                exclude_origin: None,
            },
            1_000_000,
        )
        .unwrap();
    entries
        .into_iter()
        .map(|e| (e.seq, e.message.id()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_taken_while_a_writer_inserts_holds_exactly_the_log_up_to_its_head() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&tmp.path().join("store"));
    let author = key(7);
    // Acknowledged inserts, with their seqs, as the inserting thread hears them.
    let acked = Arc::new(std::sync::Mutex::new(Vec::<(u64, Id)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, acked, stop) = (store.clone(), acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) && n < 20_000 {
                    let msg = headline_alert(
                        &author,
                        T0.plus(Duration::from_millis(n)),
                        &format!("Harbour pickets of the Fictional Dockers, day {n}"),
                    );
                    let out = store.insert(&msg, Origin::Local, T0).await.unwrap();
                    let Inserted::Accepted { seq, .. } = out else {
                        panic!("{out:?}")
                    };
                    acked.lock().unwrap().push((seq, msg.id()));
                    n += 1;
                }
            });
        })
    };
    // Wait (bounded) until the writer is well under way, and more than one segment is sealed.
    for _ in 0..10_000 {
        if acked.lock().unwrap().len() >= 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let before: Vec<(u64, Id)> = acked.lock().unwrap().clone();
    assert!(before.len() >= 200, "the writer did not get going");
    let target = tmp.path().join("copy").join("store");
    let report = store.backup(&target, T0).await.unwrap();
    // The writer goes on after the pause.
    let after_backup = acked.lock().unwrap().len();
    for _ in 0..10_000 {
        if acked.lock().unwrap().len() > after_backup + 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let all: Vec<(u64, Id)> = acked.lock().unwrap().clone();
    assert!(all.len() > after_backup, "inserts stopped after the backup");

    assert!(report.head_seq >= before.last().unwrap().0);
    assert!(report.checked, "a small store is checked in full");
    assert_eq!(report.damaged, 0);
    assert_eq!(report.dir, target);
    assert!(report.files >= 5 && report.bytes > 0, "{report:?}");
    let note = fs::read_to_string(target.join(BACKUP_NOTE)).unwrap();
    assert_eq!(
        note,
        format!(
            "tocsin-backup v1 log={} head={} taken={}\n",
            report.log_id,
            report.head_seq,
            T0.0 / 1000
        )
    );
    assert_eq!(report.log_id, store.log_id());

    // The copy opens (its note beside it), at the reported head, with exactly the messages
    // acknowledged up to it, and nothing damaged.
    let copy = open(&target);
    assert_eq!(copy.head(), report.head_seq);
    let expected: Vec<(u64, Id)> = all
        .iter()
        .filter(|(seq, _)| *seq <= report.head_seq)
        .copied()
        .collect();
    assert_eq!(log_of(&copy), expected);
    for (_, id) in &before {
        assert!(
            copy.get(id).unwrap().is_some(),
            "acknowledged before the backup, missing"
        );
    }
    let check = copy.check(false).await.unwrap();
    assert!(check.is_clean(), "{:?}", check.findings);
    assert_eq!(check.bodies, expected.len() as u64);
    copy.close().await.unwrap();
    // The running store is whole and goes on.
    assert_eq!(log_of(&store), all);
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_target_in_use_is_refused_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&tmp.path().join("store"));
    let msg = headline_alert(&key(3), T0, "Shipyard lockout in Fictionport");
    store.insert(&msg, Origin::Local, T0).await.unwrap();
    let busy = tmp.path().join("busy");
    fs::create_dir(&busy).unwrap();
    fs::write(busy.join("minutes.txt"), "the branch meeting's minutes").unwrap();
    let refused = store.backup(&busy, T0).await.unwrap_err();
    assert!(
        matches!(&refused, StoreError::BackupTarget { detail, .. } if detail.contains("not empty")),
        "{refused}"
    );
    assert_eq!(fs::read_dir(&busy).unwrap().count(), 1);
    let file = tmp.path().join("a-file");
    fs::write(&file, "x").unwrap();
    assert!(matches!(
        store.backup(&file, T0).await,
        Err(StoreError::BackupTarget { .. })
    ));
    assert!(matches!(
        store.backup(Path::new("relative/copy"), T0).await,
        Err(StoreError::BackupTarget { .. })
    ));
    assert!(matches!(
        store
            .backup(&tmp.path().join("store").join("inside"), T0)
            .await,
        Err(StoreError::BackupTarget { .. })
    ));
    // An empty directory is taken.
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let report = store.backup(&empty, T0).await.unwrap();
    assert_eq!(report.head_seq, 1);
    store.close().await.unwrap();
}
