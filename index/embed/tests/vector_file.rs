//! The durable vector projection: resumes when the model is the same, starts over otherwise.

use ctx_embed::{StoredVectors, VectorFile, VectorFileState, decode_vectors, encode_vectors};

fn item(rowid: i64, hash: &str, n: usize) -> StoredVectors {
    StoredVectors {
        item_rowid: rowid,
        content_hash: hash.to_string(),
        vectors: (0..n)
            .map(|k| {
                (0..4)
                    .map(|d| (rowid * 10 + k as i64 + d) as f32 / 100.0)
                    .collect()
            })
            .collect(),
        chunk_hashes: (0..n).map(|k| rowid as u64 * 100 + k as u64).collect(),
    }
}

fn all(file: &VectorFile) -> Vec<StoredVectors> {
    let mut out = Vec::new();
    let broken = file.for_each(|v| out.push(v)).unwrap();
    assert!(broken.is_empty());
    out
}

#[test]
fn vectors_survive_a_reopen_with_the_same_model() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vectors.sqlite");
    let (mut file, state) = VectorFile::open(&path, "model-a", 4).unwrap();
    assert!(matches!(state, VectorFileState::Fresh { .. }));
    file.apply(&[item(1, "h1", 2), item(2, "h2", 1), item(3, "h3", 3)], &[])
        .unwrap();
    file.apply(&[item(2, "h2b", 2)], &[3]).unwrap();
    file.set_applied_seq(42).unwrap();
    drop(file);

    let (file, state) = VectorFile::open(&path, "model-a", 4).unwrap();
    assert_eq!(state, VectorFileState::Existing);
    assert_eq!(file.applied_seq().unwrap(), 42);
    assert_eq!(file.item_count().unwrap(), 2);
    let stored = all(&file);
    assert_eq!(stored, vec![item(1, "h1", 2), item(2, "h2b", 2)]);
    let hashes = file.hashes().unwrap();
    assert_eq!(hashes.get(&2).map(String::as_str), Some("h2b"));
    assert!(!hashes.contains_key(&3));
}

#[test]
fn another_model_or_dimension_starts_over() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vectors.sqlite");
    let (mut file, _) = VectorFile::open(&path, "model-a", 4).unwrap();
    file.apply(&[item(1, "h1", 1)], &[]).unwrap();
    file.set_applied_seq(9).unwrap();
    drop(file);
    let (file, state) = VectorFile::open(&path, "model-b", 4).unwrap();
    match state {
        VectorFileState::Fresh { reason } => assert!(reason.contains("model-a"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(file.item_count().unwrap(), 0);
    assert_eq!(file.applied_seq().unwrap(), 0);
    drop(file);
    let (file, state) = VectorFile::open(&path, "model-b", 8).unwrap();
    assert!(matches!(state, VectorFileState::Fresh { .. }));
    assert_eq!(file.item_count().unwrap(), 0);
}

#[test]
fn an_unreadable_file_is_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vectors.sqlite");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let (mut file, state) = VectorFile::open(&path, "m", 4).unwrap();
    match state {
        VectorFileState::Fresh { reason } => assert!(reason.contains("unreadable"), "{reason}"),
        other => panic!("{other:?}"),
    }
    file.apply(&[item(5, "h", 1)], &[]).unwrap();
    assert_eq!(all(&file), vec![item(5, "h", 1)]);
}

#[test]
fn blobs_round_trip_and_bad_lengths_are_refused() {
    let v = vec![vec![1.5f32, -2.0, 0.0], vec![3.25, 4.0, -0.5]];
    assert_eq!(decode_vectors(&encode_vectors(&v), 3), Some(v));
    assert_eq!(decode_vectors(&[0u8; 10], 3), None);
    assert_eq!(decode_vectors(&[], 3), Some(vec![]));
}

#[test]
fn chunk_vectors_come_back_with_the_hash_of_their_text() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vectors.sqlite");
    let (mut file, _) = VectorFile::open(&path, "model-a", 4).unwrap();
    file.apply(&[item(3, "h3", 2)], &[]).unwrap();
    let stored = file.chunk_vectors(3).unwrap().unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].0, 300);
    assert_eq!(stored[1].0, 301);
    assert_eq!(stored[1].1, item(3, "h3", 2).vectors[1]);
    assert_eq!(file.chunk_vectors(4).unwrap(), None);
}

#[test]
fn a_file_of_the_first_format_is_rebuilt_with_chunk_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vectors.sqlite");
    {
        // Format 1: no chunk hashes.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
             CREATE TABLE item_vectors (item_rowid INTEGER PRIMARY KEY, content_hash TEXT NOT NULL,
                vectors BLOB NOT NULL);
             INSERT INTO meta VALUES ('format_version', '1'), ('model_id', 'model-a'), ('dim', '4'),
                ('applied_seq', '7');
             INSERT INTO item_vectors VALUES (1, 'h', x'0000803f0000803f0000803f0000803f');",
        )
        .unwrap();
    }
    let (mut file, state) = VectorFile::open(&path, "model-a", 4).unwrap();
    assert!(
        matches!(&state, VectorFileState::Fresh { reason } if reason.contains("vector format 1")),
        "{state:?}"
    );
    assert!(all(&file).is_empty());
    assert_eq!(file.applied_seq().unwrap(), 0);
    file.apply(&[item(1, "h1", 1)], &[]).unwrap();
    assert_eq!(all(&file), vec![item(1, "h1", 1)]);
}
