//! Every message of public test corpora goes through the message model without a panic:
//! CPython's email test messages (`test/test_email/data/msg_*.txt`) and mail-parser's own test
//! messages (shipped in its crate source). The corpora are found on this machine, not vendored;
//! a corpus that cannot be found is reported and skipped.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use ctx_connector_mail::{MailLimits, message_items, parse_message};

#[derive(Debug, Default)]
struct Tally {
    total: usize,
    ok: usize,
    errors: Vec<(String, String)>,
    panics: Vec<String>,
}

fn ingest(files: &[PathBuf]) -> Tally {
    let limits = MailLimits::default();
    let mut tally = Tally::default();
    for path in files {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        tally.total += 1;
        let name = path.display().to_string();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            parse_message(&bytes, &limits).map(|parsed| message_items(&parsed, &name, "test://"))
        }));
        match outcome {
            Ok(Ok(items)) => {
                assert!(!items.is_empty(), "{name}: no items");
                assert!(!items[0].title.is_empty(), "{name}: empty title");
                tally.ok += 1;
            }
            Ok(Err(e)) => tally.errors.push((name, e.to_string())),
            Err(_) => tally.panics.push(name),
        }
    }
    tally
}

fn report(corpus: &str, tally: &Tally) {
    println!(
        "{corpus}: {} messages, {} parsed, {} errors, {} panics",
        tally.total,
        tally.ok,
        tally.errors.len(),
        tally.panics.len()
    );
    for (name, error) in &tally.errors {
        println!("  error {name}: {error}");
    }
    assert!(
        tally.panics.is_empty(),
        "{corpus}: panics on {:?}",
        tally.panics
    );
    assert!(
        tally.ok * 10 >= tally.total * 9,
        "{corpus}: only {} of {} parsed",
        tally.ok,
        tally.total
    );
}

fn files_in(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().and_then(|n| n.to_str()).is_some_and(&keep) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// CPython's test package, located by asking the Python on this machine, then common places.
fn cpython_email_data() -> Option<PathBuf> {
    let asked = std::process::Command::new("python3")
        .args([
            "-c",
            "import test, os; print(os.path.dirname(test.__file__))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let mut candidates: Vec<PathBuf> = asked.into_iter().collect();
    for base in ["/usr/lib", "/usr/local/lib"] {
        if let Ok(entries) = std::fs::read_dir(base) {
            candidates.extend(entries.flatten().map(|e| e.path().join("test")));
        }
    }
    candidates
        .into_iter()
        .map(|test| test.join("test_email").join("data"))
        .find(|data| data.join("msg_01.txt").is_file())
}

#[test]
fn cpython_email_corpus_ingests_without_panics() {
    let Some(data) = cpython_email_data() else {
        println!("cpython email corpus not found on this machine; skipped");
        return;
    };
    let files = files_in(&data, |n| n.starts_with("msg_") && n.ends_with(".txt"));
    assert!(files.len() >= 40, "expected the whole corpus in {data:?}");
    report("cpython test_email", &ingest(&files));
}

/// mail-parser's crate source in the cargo registry, if its test resources were shipped.
fn mail_parser_resources() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let registry = home.join("registry").join("src");
    let mut found: Vec<PathBuf> = std::fs::read_dir(registry)
        .ok()?
        .flatten()
        .flat_map(|index| {
            std::fs::read_dir(index.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("mail-parser-0.11"))
        })
        .map(|p| p.join("resources"))
        .filter(|p| p.is_dir())
        .collect();
    found.sort();
    found.pop()
}

#[test]
fn mail_parser_test_messages_ingest_without_panics() {
    let Some(resources) = mail_parser_resources() else {
        println!("mail-parser test resources not found in the cargo registry; skipped");
        return;
    };
    let mut files = files_in(&resources.join("eml"), |n| n.ends_with(".eml"));
    files.extend(files_in(&resources.join("maildir"), |_| true));
    assert!(!files.is_empty(), "no messages under {resources:?}");
    report("mail-parser resources", &ingest(&files));
}
