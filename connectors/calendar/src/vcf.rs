//! vCard (2.1, 3.0, 4.0) → [`Contact`] → a `Contact` item.

use ctx_connector_api::{Item, ItemKind, OrgRef, PersonRef, PersonRole};

use crate::contentline::{self, Component};

/// The parts of a vCard ctx shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// `UID`, or a hash of the card when it has none.
    pub uid: String,
    /// `FN`, else the `N` parts joined, else the first email.
    pub name: String,
    /// (address, types such as `work`).
    pub emails: Vec<(String, Vec<String>)>,
    pub phones: Vec<(String, Vec<String>)>,
    /// `ORG`, units joined with ` / `.
    pub org: Option<String>,
    pub title: Option<String>,
    pub role: Option<String>,
    pub note: Option<String>,
    pub urls: Vec<String>,
    pub addresses: Vec<String>,
    pub birthday: Option<String>,
    pub categories: Vec<String>,
    pub rev: Option<String>,
}

/// Every card of a text, and how many components or lines were unusable.
pub fn parse_vcards(text: &str) -> (Vec<Contact>, usize) {
    let parsed = contentline::parse(text);
    let mut problems = parsed.bad_lines + parsed.unbalanced;
    let mut out = Vec::new();
    for comp in parsed.components.iter().filter(|c| c.name == "VCARD") {
        match contact(comp) {
            Some(c) => out.push(c),
            None => problems += 1,
        }
    }
    (out, problems)
}

fn types(p: &contentline::Property) -> Vec<String> {
    p.params
        .iter()
        .filter(|(n, _)| n == "TYPE")
        .flat_map(|(_, v)| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty() && !matches!(t.as_str(), "internet" | "pref" | "voice" | "x400"))
        .collect()
}

fn contact(comp: &Component) -> Option<Contact> {
    let emails: Vec<(String, Vec<String>)> = comp
        .props_named("EMAIL")
        .map(|p| {
            (
                p.text().trim().trim_start_matches("mailto:").to_owned(),
                types(p),
            )
        })
        .filter(|(e, _)| e.contains('@'))
        .collect();
    let structured = comp.prop("N").map(|p| {
        let parts = contentline::split_unescaped(&p.value, ';');
        // family; given; additional; prefix; suffix → "prefix given additional family suffix".
        let at = |i: usize| parts.get(i).map(|s| s.trim()).unwrap_or("");
        [at(3), at(1), at(2), at(0), at(4)]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ")
    });
    let name = comp
        .text("FN")
        .or(structured.filter(|s| !s.is_empty()))
        .or_else(|| emails.first().map(|(e, _)| e.clone()))
        .or_else(|| comp.text("ORG").map(|o| o.replace(';', " ")))?;
    let uid = comp.text("UID").unwrap_or_else(|| {
        let mut hasher = blake3::Hasher::new();
        for p in &comp.props {
            hasher.update(p.name.as_bytes());
            hasher.update(b"\0");
            hasher.update(p.value.as_bytes());
            hasher.update(b"\n");
        }
        format!("no-uid-{}", &hasher.finalize().to_hex()[..16])
    });
    Some(Contact {
        uid,
        name,
        phones: comp
            .props_named("TEL")
            .map(|p| {
                (
                    p.text().trim().trim_start_matches("tel:").to_owned(),
                    types(p),
                )
            })
            .filter(|(t, _)| !t.is_empty())
            .collect(),
        emails,
        org: comp
            .prop("ORG")
            .map(|p| {
                contentline::split_unescaped(&p.value, ';')
                    .into_iter()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" / ")
            })
            .filter(|s| !s.is_empty()),
        title: comp.text("TITLE"),
        role: comp.text("ROLE"),
        note: comp.text("NOTE"),
        urls: comp
            .props_named("URL")
            .map(|p| p.text().trim().to_owned())
            .filter(|u| !u.is_empty())
            .collect(),
        addresses: comp
            .props_named("ADR")
            .map(|p| {
                contentline::split_unescaped(&p.value, ';')
                    .into_iter()
                    .map(|s| s.trim().replace('\n', ", "))
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|a| !a.is_empty())
            .collect(),
        birthday: comp.text("BDAY"),
        categories: comp
            .props_named("CATEGORIES")
            .flat_map(|p| contentline::split_unescaped(&p.value, ','))
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect(),
        rev: comp.text("REV"),
    })
}

/// Mail domains of free-mail providers: their domain names no organisation.
pub use ctx_connector_api::FREE_MAIL_DOMAINS;

fn domain_of(email: &str) -> Option<String> {
    let domain = email.rsplit_once('@')?.1.trim().to_ascii_lowercase();
    (!domain.is_empty() && !FREE_MAIL_DOMAINS.contains(&domain.as_str())).then_some(domain)
}

fn with_types(value: &str, types: &[String]) -> String {
    if types.is_empty() {
        value.to_owned()
    } else {
        format!("{value} ({})", types.join(", "))
    }
}

/// The `Contact` item of a card; `external_id` and `locator` are the caller's.
pub fn contact_item(c: &Contact, external_id: &str, locator: &str) -> Item {
    let mut body = String::new();
    body.push_str(&c.name);
    body.push('\n');
    let mut line = |label: &str, value: &str| {
        body.push_str(label);
        body.push_str(": ");
        body.push_str(value);
        body.push('\n');
    };
    if let Some(title) = &c.title {
        line("Title", title);
    }
    if let Some(role) = &c.role {
        line("Role", role);
    }
    if let Some(org) = &c.org {
        line("Organization", org);
    }
    for (email, types) in &c.emails {
        line("Email", &with_types(email, types));
    }
    for (phone, types) in &c.phones {
        line("Phone", &with_types(phone, types));
    }
    for adr in &c.addresses {
        line("Address", adr);
    }
    for url in &c.urls {
        line("URL", url);
    }
    if let Some(bday) = &c.birthday {
        line("Birthday", bday);
    }
    if !c.categories.is_empty() {
        line("Categories", &c.categories.join(", "));
    }
    if let Some(note) = &c.note {
        body.push('\n');
        body.push_str(note);
        body.push('\n');
    }
    let mut item = Item::new(external_id, ItemKind::Contact, c.name.clone(), body);
    item.locator = locator.to_owned();
    if c.emails.is_empty() {
        item.people.push(PersonRef {
            email: None,
            name: Some(c.name.clone()),
            role: PersonRole::Subject,
        });
    }
    for (email, _) in &c.emails {
        item.people.push(PersonRef {
            email: Some(email.clone()),
            name: Some(c.name.clone()),
            role: PersonRole::Subject,
        });
    }
    let domain = c.emails.iter().find_map(|(e, _)| domain_of(e));
    if c.org.is_some() || domain.is_some() {
        item.organizations.push(OrgRef {
            domain,
            name: c.org.clone(),
        });
    }
    if let Some(org) = &c.org {
        item.fields.push(("organization".into(), org.clone()));
    }
    if let Some(title) = &c.title {
        item.fields.push(("title".into(), title.clone()));
    }
    if let Some(email) = c.emails.first() {
        item.fields.push(("email".into(), email.0.clone()));
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vcard_3_and_4_and_2_1() {
        let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c1\r\nFN:Anna Smith\r\nN:Smith;Anna;;;\r\n\
ORG:ACME Corp;Research\r\nTITLE:Head of R&D\r\nEMAIL;TYPE=INTERNET,WORK:anna@acme.example\r\n\
item1.EMAIL;type=INTERNET:anna@gmail.com\r\nTEL;TYPE=CELL:+49 170 1234567\r\n\
NOTE:Met at FOSDEM\\, likes tea.\r\nEND:VCARD\r\n\
BEGIN:VCARD\nVERSION:4.0\nN:Doe;John;Q;Dr.;\nEMAIL:john@gmail.com\nEND:VCARD\n\
BEGIN:VCARD\nVERSION:2.1\nN:M\u{fc}ller;J\u{f6}rg\nTEL;WORK;VOICE:123\n\
NOTE;ENCODING=QUOTED-PRINTABLE:Gr=C3=BC=C3=9Fe\nEND:VCARD\n\
BEGIN:VCARD\nVERSION:3.0\nNOTE:nothing to call it\nEND:VCARD\n";
        let (cards, problems) = parse_vcards(text);
        assert_eq!(cards.len(), 3);
        assert_eq!(problems, 1);
        let anna = &cards[0];
        assert_eq!(anna.org.as_deref(), Some("ACME Corp / Research"));
        assert_eq!(
            anna.emails[0],
            ("anna@acme.example".into(), vec!["work".into()])
        );
        assert_eq!(cards[1].name, "Dr. John Q Doe");
        assert_eq!(cards[2].name, "Jörg Müller");
        assert_eq!(cards[2].note.as_deref(), Some("Grüße"));
        assert_eq!(cards[2].phones[0].1, vec!["work".to_string()]);

        let item = contact_item(anna, "c1", "file:///x.vcf");
        assert_eq!(item.kind, ItemKind::Contact);
        assert_eq!(item.title, "Anna Smith");
        assert!(item.body.contains("Email: anna@acme.example (work)"));
        assert!(item.body.contains("Met at FOSDEM, likes tea."));
        assert_eq!(item.people.len(), 2);
        assert!(item.people.iter().all(|p| p.role == PersonRole::Subject));
        assert_eq!(
            item.organizations[0].domain.as_deref(),
            Some("acme.example")
        );
        let john = contact_item(&cards[1], "c2", "");
        assert!(
            john.organizations.is_empty(),
            "free-mail names no organisation"
        );
    }
}
