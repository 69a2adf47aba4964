//! A migration that has shipped is never edited: databases that already applied it would refuse
//! to start (sqlx checks each applied migration's checksum) or, worse, silently differ from new
//! ones. Changes go in a new migration; `migrations/CHECKSUMS` records every shipped file.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

fn migrations() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut found = BTreeMap::new();
    for backend in ["sqlite", "postgres"] {
        for entry in std::fs::read_dir(root.join(backend)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "sql") {
                let name = format!("{backend}/{}", path.file_name().unwrap().to_string_lossy());
                found.insert(
                    name,
                    hex::encode(Sha256::digest(std::fs::read(&path).unwrap())),
                );
            }
        }
    }
    found
}

fn recorded() -> BTreeMap<String, String> {
    let text = include_str!("../../migrations/CHECKSUMS");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (sum, name) = l.split_once("  ").expect("`<sha256>  <file>` per line");
            (name.trim().to_owned(), sum.trim().to_owned())
        })
        .collect()
}

#[test]
fn no_shipped_migration_has_been_edited_or_removed() {
    let now = migrations();
    for (name, sum) in recorded() {
        match now.get(&name) {
            None => panic!("{name} was removed: shipped migrations stay"),
            Some(current) => assert_eq!(
                current, &sum,
                "{name} changed after it shipped: add a new migration instead"
            ),
        }
    }
}

#[test]
fn every_migration_is_recorded_and_exists_for_both_databases() {
    let now = migrations();
    let recorded = recorded();
    for name in now.keys() {
        assert!(
            recorded.contains_key(name),
            "{name} is not in migrations/CHECKSUMS: add `sha256sum` of it when it ships"
        );
        let (backend, file) = name.split_once('/').unwrap();
        let other = if backend == "sqlite" {
            "postgres"
        } else {
            "sqlite"
        };
        assert!(
            now.contains_key(&format!("{other}/{file}")),
            "{file} exists for {backend} only"
        );
    }
}
