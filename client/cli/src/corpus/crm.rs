//! The sample organisation's CRM, as JSONL export files (the shape of
//! `config/examples/connectors.d/crm-export-jsonl.toml`): its customers as companies, their
//! contacts (the same addresses as in the generated mail and calendars, so people and companies
//! merge), two deals per customer with owner, stage, amount and close date, and notes on the
//! deals. Times are around `today`, so the files are the same for the same day.

use std::fmt::Write as _;
use std::path::Path;

use super::{CUSTOMERS, Customer, Deal, EMPLOYEES, contact_email, email, money};

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CrmStats {
    pub companies: usize,
    pub contacts: usize,
    pub deals: usize,
    pub notes: usize,
}

/// File names, in the order the connector reads them.
pub const CRM_FILES: [(&str, &str); 4] = [
    ("companies.jsonl", "companies"),
    ("contacts.jsonl", "contacts"),
    ("deals.jsonl", "deals"),
    ("notes.jsonl", "notes"),
];

fn json(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn rfc3339(date: time::Date, hour: u8) -> String {
    format!(
        "{:04}-{:02}-{:02}T{hour:02}:00:00Z",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// "Q3 2026" → the quarter's last day.
fn quarter_end(close: &str) -> String {
    let (q, year) = close.split_once(' ').unwrap_or(("Q4", "2026"));
    let day = match q {
        "Q1" => "03-31",
        "Q2" => "06-30",
        "Q3" => "09-30",
        _ => "12-31",
    };
    format!("{year}-{day}T00:00:00Z")
}

fn stage(deal: &Deal, today: time::Date) -> &'static str {
    let year: i32 = deal
        .close
        .split_once(' ')
        .and_then(|(_, y)| y.parse().ok())
        .unwrap_or(today.year());
    if year < today.year() {
        return "closed won";
    }
    match deal.kind {
        "renewal" => "negotiation",
        "pilot" => "proposal",
        "downgrade" => "at risk",
        _ => "qualification",
    }
}

fn days_before(today: time::Date, days: i64) -> time::Date {
    today - time::Duration::days(days)
}

fn notes_for(cust: &Customer, deal: &Deal) -> [String; 2] {
    let owner = &EMPLOYEES[cust.owner];
    let champion = &cust.contacts[0];
    [
        format!(
            "Call with {} {} ({}) about the {} {}: they want {} answered before signing; \
             {} {} will send the updated order form for the {} ({}).",
            champion.first,
            champion.last,
            champion.title,
            cust.name,
            deal.kind,
            cust.concern,
            owner.first,
            owner.last,
            deal.product,
            money(deal.amount)
        ),
        format!(
            "{} {} confirmed budget for {}; legal review of the {} contract is next. Target close {}.",
            cust.contacts[1].first, cust.contacts[1].last, deal.product, deal.kind, deal.close
        ),
    ]
}

/// Writes the four JSONL files into `dir` (created if needed), rewriting only what changed.
pub fn generate_crm(dir: &Path, today: time::Date) -> std::io::Result<CrmStats> {
    std::fs::create_dir_all(dir)?;
    let mut stats = CrmStats::default();
    let (mut companies, mut contacts, mut deals, mut notes) =
        (String::new(), String::new(), String::new(), String::new());
    for (ci, cust) in CUSTOMERS.iter().enumerate() {
        let updated = rfc3339(days_before(today, 90 + ci as i64), 9);
        let company_id = format!("co-{}", cust.slug);
        let _ = writeln!(
            companies,
            "{{\"id\":{},\"name\":{},\"domain\":{},\"industry\":{},\"updated_at\":{}}}",
            json(&company_id),
            json(cust.name),
            json(cust.domain),
            json(cust.industry),
            json(&updated)
        );
        stats.companies += 1;
        let mut contact_ids = Vec::new();
        for (j, ct) in cust.contacts.iter().enumerate() {
            let id = format!("ct-{}-{}", cust.slug, j + 1);
            let _ = writeln!(
                contacts,
                "{{\"id\":{},\"first_name\":{},\"last_name\":{},\"email\":{},\"phone\":{},\"title\":{},\"company_id\":{},\"updated_at\":{}}}",
                json(&id),
                json(ct.first),
                json(ct.last),
                json(&contact_email(ct, cust)),
                json(&format!("+1 555 01{ci}{j}")),
                json(ct.title),
                json(&company_id),
                json(&updated)
            );
            contact_ids.push(id);
            stats.contacts += 1;
        }
        let ids_json = format!(
            "[{}]",
            contact_ids
                .iter()
                .map(|i| json(i))
                .collect::<Vec<_>>()
                .join(",")
        );
        for (k, deal) in cust.deals.iter().enumerate() {
            let deal_id = format!("dl-{}-{}", cust.slug, k + 1);
            let name = format!("{} {}", cust.name.trim_end_matches(" Corp"), deal.kind);
            let deal_updated = rfc3339(days_before(today, 3 + (ci * 2 + k) as i64), 15);
            let _ = writeln!(
                deals,
                "{{\"id\":{},\"name\":{},\"stage\":{},\"amount\":{},\"close_date\":{},\"company_id\":{},\"contact_ids\":{ids_json},\"owner_email\":{},\"updated_at\":{}}}",
                json(&deal_id),
                json(&name),
                json(stage(deal, today)),
                deal.amount,
                json(&quarter_end(deal.close)),
                json(&company_id),
                json(&email(&EMPLOYEES[cust.owner])),
                json(&deal_updated)
            );
            stats.deals += 1;
            for (n, body) in notes_for(cust, deal).iter().enumerate() {
                let at = rfc3339(days_before(today, 2 + (ci * 4 + k * 2 + n) as i64), 11);
                let _ = writeln!(
                    notes,
                    "{{\"id\":{},\"body\":{},\"timestamp\":{},\"deal_id\":{},\"contact_ids\":[{}],\"company_id\":{},\"updated_at\":{}}}",
                    json(&format!("nt-{}-{}-{}", cust.slug, k + 1, n + 1)),
                    json(body),
                    json(&at),
                    json(&deal_id),
                    json(&contact_ids[n]),
                    json(&company_id),
                    json(&at)
                );
                stats.notes += 1;
            }
        }
    }
    for ((file, _), text) in CRM_FILES.iter().zip([companies, contacts, deals, notes]) {
        let path = dir.join(file);
        if std::fs::read(&path).ok().as_deref() != Some(text.as_bytes()) {
            std::fs::write(&path, text)?;
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crm_exports_name_the_mail_addresses_and_are_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let today = time::macros::date!(2026 - 11 - 20);
        let stats = generate_crm(dir.path(), today).unwrap();
        assert_eq!(
            stats,
            CrmStats {
                companies: 10,
                contacts: 20,
                deals: 20,
                notes: 40
            }
        );
        let deals = std::fs::read_to_string(dir.path().join("deals.jsonl")).unwrap();
        let first: serde_json::Value = serde_json::from_str(deals.lines().next().unwrap()).unwrap();
        assert_eq!(first["name"], "Acme renewal");
        assert_eq!(first["company_id"], "co-acme");
        assert_eq!(first["close_date"], "2026-06-30T00:00:00Z");
        assert_eq!(first["contact_ids"][0], "ct-acme-1");
        let contacts = std::fs::read_to_string(dir.path().join("contacts.jsonl")).unwrap();
        assert!(contacts.contains("\"janet.morales@acme-corp.com\""));
        for (file, _) in CRM_FILES {
            let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
            for line in text.lines() {
                serde_json::from_str::<serde_json::Value>(line).unwrap();
            }
        }
        let before = std::fs::read(dir.path().join("notes.jsonl")).unwrap();
        generate_crm(dir.path(), today).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("notes.jsonl")).unwrap(),
            before
        );
    }
}
