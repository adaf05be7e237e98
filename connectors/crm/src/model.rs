//! The CRM record model every CRM connector maps into, and its rendering as ctx [`Item`]s.
//!
//! A [`CrmRecord`] is one contact, company, deal or engagement (note, call, meeting, task) with
//! its well-known attributes under fixed names (`email`, `domain`, `stage`...) and its
//! associations by (object, id). [`record_item`] turns it into an item whose people and
//! organisations come from its associations, resolved through a [`Directory`] of the records'
//! display facts, so that a deal carries its company's domain and its contacts' addresses and
//! the store merges them with the people and organisations of mail and calendars.

use std::collections::HashMap;

use ctx_connector_api::{Item, ItemKind, ItemLink, OrgRef, PersonRef, PersonRole};

/// The CRM object types ctx mirrors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    Company,
    Contact,
    Deal,
    Note,
    Call,
    Meeting,
    Task,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 7] = [
        ObjectKind::Company,
        ObjectKind::Contact,
        ObjectKind::Deal,
        ObjectKind::Note,
        ObjectKind::Call,
        ObjectKind::Meeting,
        ObjectKind::Task,
    ];

    /// The plural name used in HubSpot paths and in external ids (`deals/42`).
    pub fn plural(self) -> &'static str {
        match self {
            ObjectKind::Company => "companies",
            ObjectKind::Contact => "contacts",
            ObjectKind::Deal => "deals",
            ObjectKind::Note => "notes",
            ObjectKind::Call => "calls",
            ObjectKind::Meeting => "meetings",
            ObjectKind::Task => "tasks",
        }
    }

    /// Parses a plural (`deals`) or singular (`deal`) name, case-insensitively.
    pub fn parse(name: &str) -> Option<ObjectKind> {
        let lower = name.trim().to_ascii_lowercase();
        ObjectKind::ALL.into_iter().find(|k| {
            k.plural() == lower
                || k.singular() == lower
                || (lower == "company" && *k == ObjectKind::Company)
        })
    }

    pub fn singular(self) -> &'static str {
        match self {
            ObjectKind::Company => "company",
            ObjectKind::Contact => "contact",
            ObjectKind::Deal => "deal",
            ObjectKind::Note => "note",
            ObjectKind::Call => "call",
            ObjectKind::Meeting => "meeting",
            ObjectKind::Task => "task",
        }
    }

    pub fn item_kind(self) -> ItemKind {
        match self {
            ObjectKind::Company => ItemKind::Company,
            ObjectKind::Contact => ItemKind::Contact,
            ObjectKind::Deal => ItemKind::Deal,
            ObjectKind::Task => ItemKind::Task,
            ObjectKind::Note | ObjectKind::Call | ObjectKind::Meeting => ItemKind::Note,
        }
    }

    /// Notes, calls, meetings and tasks: activities attached to other records.
    pub fn is_engagement(self) -> bool {
        matches!(
            self,
            ObjectKind::Note | ObjectKind::Call | ObjectKind::Meeting | ObjectKind::Task
        )
    }
}

/// The external id of a record: `{plural}/{id}` (`companies/17`).
pub fn external_id(kind: ObjectKind, id: &str) -> String {
    format!("{}/{id}", kind.plural())
}

/// Well-known attribute names of [`CrmRecord::attrs`]. Every mapping (HubSpot properties,
/// JSON pointers, CSV columns) fills these, so rendering is the same for every CRM.
pub mod attr {
    pub const NAME: &str = "name";
    pub const FIRST_NAME: &str = "first_name";
    pub const LAST_NAME: &str = "last_name";
    pub const EMAIL: &str = "email";
    pub const PHONE: &str = "phone";
    pub const JOB_TITLE: &str = "title";
    pub const COMPANY_NAME: &str = "company";
    pub const DOMAIN: &str = "domain";
    pub const INDUSTRY: &str = "industry";
    pub const STAGE: &str = "stage";
    pub const AMOUNT: &str = "amount";
    pub const CLOSE_DATE: &str = "close_date";
    pub const PIPELINE: &str = "pipeline";
    pub const OWNER_EMAIL: &str = "owner_email";
    pub const OWNER_NAME: &str = "owner";
    pub const SUBJECT: &str = "subject";
    pub const BODY: &str = "body";
    pub const STATUS: &str = "status";
    pub const URL: &str = "url";
}

/// One CRM record, in the vocabulary shared by every CRM connector.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CrmRecord {
    pub kind: Option<ObjectKind>,
    pub id: String,
    /// Last modification, milliseconds since the epoch (the incremental-sync watermark).
    pub updated_ms: Option<i64>,
    /// The record's own time: an engagement's timestamp; else its last modification.
    pub timestamp_ms: Option<i64>,
    /// Source-side version: the modification time as the source wrote it, else a content hash.
    pub version: String,
    /// Well-known attributes (see [`attr`]), in a stable order for rendering.
    pub attrs: Vec<(String, String)>,
    /// Other configured properties, shown as fields.
    pub extra: Vec<(String, String)>,
    /// Associated records.
    pub associations: Vec<(ObjectKind, String)>,
}

impl CrmRecord {
    pub fn new(kind: ObjectKind, id: impl Into<String>) -> Self {
        CrmRecord {
            kind: Some(kind),
            id: id.into(),
            ..CrmRecord::default()
        }
    }

    pub fn object(&self) -> ObjectKind {
        self.kind.unwrap_or(ObjectKind::Note)
    }

    /// Sets a well-known attribute (ignoring empty values).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        let value = value.trim();
        if value.is_empty() {
            return;
        }
        match self.attrs.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value.to_owned(),
            None => self.attrs.push((name.to_owned(), value.to_owned())),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Adds an association once.
    pub fn associate(&mut self, kind: ObjectKind, id: impl Into<String>) {
        let id = id.into();
        let id = id.trim();
        if id.is_empty() {
            return;
        }
        if !self.associations.iter().any(|(k, i)| *k == kind && i == id) {
            self.associations.push((kind, id.to_owned()));
        }
    }

    pub fn external_id(&self) -> String {
        external_id(self.object(), &self.id)
    }

    /// A person's display name from first/last name or `name`.
    pub fn person_name(&self) -> Option<String> {
        let joined = [self.get(attr::FIRST_NAME), self.get(attr::LAST_NAME)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if joined.is_empty() {
            self.get(attr::NAME).map(str::to_owned)
        } else {
            Some(joined)
        }
    }

    /// The facts other records show about this one.
    pub fn summary(&self, free_mail: &[String]) -> Summary {
        let domain = self
            .get(attr::DOMAIN)
            .and_then(|d| normalize_domain(d, free_mail));
        match self.object() {
            ObjectKind::Contact => Summary {
                name: self.person_name(),
                email: self.get(attr::EMAIL).map(str::to_owned),
                domain: None,
            },
            ObjectKind::Company => Summary {
                name: self.get(attr::NAME).map(str::to_owned),
                email: None,
                domain,
            },
            _ => Summary {
                name: self
                    .get(attr::NAME)
                    .or(self.get(attr::SUBJECT))
                    .map(str::to_owned),
                email: None,
                domain: None,
            },
        }
    }
}

/// What a record shows of an associated record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    pub name: Option<String>,
    pub email: Option<String>,
    /// A company's web domain, unless it is a free-mail domain.
    pub domain: Option<String>,
}

/// Display facts of records by (object, id), used to resolve associations.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    entries: HashMap<(ObjectKind, String), Summary>,
}

impl Directory {
    pub fn insert(&mut self, kind: ObjectKind, id: &str, summary: Summary) {
        self.entries.insert((kind, id.to_owned()), summary);
    }

    pub fn get(&self, kind: ObjectKind, id: &str) -> Option<&Summary> {
        self.entries.get(&(kind, id.to_owned()))
    }

    pub fn contains(&self, kind: ObjectKind, id: &str) -> bool {
        self.entries.contains_key(&(kind, id.to_owned()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A web domain as an organisation key: lowercased, without scheme, `www.`, path or port;
/// `None` when empty or a free-mail domain (an address there names a person, not a company).
pub fn normalize_domain(raw: &str, free_mail: &[String]) -> Option<String> {
    let lower = raw.trim().to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .unwrap_or(&lower);
    let host = rest.split(['/', '?', '#', ':']).next().unwrap_or_default();
    let host = host.strip_prefix("www.").unwrap_or(host).trim_matches('.');
    if host.is_empty() || !host.contains('.') || free_mail.iter().any(|f| f == host) {
        return None;
    }
    Some(host.to_owned())
}

/// The default free-mail list as owned strings.
pub fn default_free_mail() -> Vec<String> {
    ctx_connector_api::FREE_MAIL_DOMAINS
        .iter()
        .map(|d| d.to_string())
        .collect()
}

fn label(attr_name: &str) -> &str {
    match attr_name {
        attr::EMAIL => "Email",
        attr::PHONE => "Phone",
        attr::JOB_TITLE => "Title",
        attr::COMPANY_NAME => "Company",
        attr::DOMAIN => "Domain",
        attr::INDUSTRY => "Industry",
        attr::STAGE => "Stage",
        attr::AMOUNT => "Amount",
        attr::CLOSE_DATE => "Close date",
        attr::PIPELINE => "Pipeline",
        attr::OWNER_NAME | attr::OWNER_EMAIL => "Owner",
        attr::STATUS => "Status",
        attr::URL => "Link",
        other => other,
    }
}

/// Renders a record as an item of source-independent shape.
///
/// `locator` is where a person opens the record (a CRM web URL, a file path).
pub fn record_item(
    record: &CrmRecord,
    directory: &Directory,
    free_mail: &[String],
    locator: String,
) -> Item {
    let kind = record.object();
    let mut people: Vec<PersonRef> = Vec::new();
    let mut orgs: Vec<OrgRef> = Vec::new();
    let mut links: Vec<ItemLink> = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();

    let add_person =
        |people: &mut Vec<PersonRef>, email: Option<&str>, name: Option<&str>, role| {
            let email = email.map(str::trim).filter(|e| e.contains('@'));
            let name = name.map(str::trim).filter(|n| !n.is_empty());
            if email.is_none() && name.is_none() {
                return;
            }
            let person = PersonRef {
                email: email.map(str::to_owned),
                name: name.map(str::to_owned),
                role,
            };
            if !people.contains(&person) {
                people.push(person);
            }
        };

    let title = match kind {
        ObjectKind::Contact => {
            let name = record.person_name();
            add_person(
                &mut people,
                record.get(attr::EMAIL),
                name.as_deref(),
                PersonRole::Subject,
            );
            name.or_else(|| record.get(attr::EMAIL).map(str::to_owned))
        }
        ObjectKind::Company => {
            let domain = record
                .get(attr::DOMAIN)
                .and_then(|d| normalize_domain(d, free_mail));
            let name = record.get(attr::NAME).map(str::to_owned);
            if domain.is_some() || name.is_some() {
                orgs.push(OrgRef {
                    domain,
                    name: name.clone(),
                });
            }
            name.or_else(|| record.get(attr::DOMAIN).map(str::to_owned))
        }
        ObjectKind::Deal => record.get(attr::NAME).map(str::to_owned),
        _ => record.get(attr::SUBJECT).map(str::to_owned),
    };

    // The record's own facts, in their stable order.
    for (name, value) in &record.attrs {
        if matches!(
            name.as_str(),
            attr::NAME | attr::FIRST_NAME | attr::LAST_NAME | attr::BODY | attr::SUBJECT
        ) {
            continue;
        }
        if name == attr::OWNER_EMAIL && record.get(attr::OWNER_NAME).is_some() {
            continue;
        }
        let shown = if name == attr::OWNER_NAME {
            match record.get(attr::OWNER_EMAIL) {
                Some(email) => format!("{value} <{email}>"),
                None => value.clone(),
            }
        } else {
            value.clone()
        };
        lines.push(format!("{}: {shown}", label(name)));
        fields.push((name.clone(), shown));
    }
    if record.get(attr::OWNER_EMAIL).is_some() || record.get(attr::OWNER_NAME).is_some() {
        add_person(
            &mut people,
            record.get(attr::OWNER_EMAIL),
            record.get(attr::OWNER_NAME),
            PersonRole::Owner,
        );
    }
    for (name, value) in &record.extra {
        lines.push(format!("{name}: {value}"));
        fields.push((name.clone(), value.clone()));
    }

    // Associations: links for the graph, resolved names for the reader, people and
    // organisations for entity merging.
    let mut related: Vec<(ObjectKind, String)> = Vec::new();
    for (assoc_kind, id) in &record.associations {
        links.push(ItemLink {
            relation: assoc_kind.singular().to_owned(),
            target_external_id: external_id(*assoc_kind, id),
        });
        let summary = directory.get(*assoc_kind, id);
        let shown = match (*assoc_kind, summary) {
            (ObjectKind::Company, Some(s)) => {
                if s.domain.is_some() || s.name.is_some() {
                    let org = OrgRef {
                        domain: s.domain.clone(),
                        name: s.name.clone(),
                    };
                    if !orgs.contains(&org) {
                        orgs.push(org);
                    }
                }
                match (&s.name, &s.domain) {
                    (Some(n), Some(d)) => format!("{n} ({d})"),
                    (Some(n), None) => n.clone(),
                    (None, Some(d)) => d.clone(),
                    (None, None) => format!("company {id}"),
                }
            }
            (ObjectKind::Contact, Some(s)) => {
                let role = if kind == ObjectKind::Contact {
                    PersonRole::Mentioned
                } else {
                    PersonRole::Attendee
                };
                add_person(&mut people, s.email.as_deref(), s.name.as_deref(), role);
                match (&s.name, &s.email) {
                    (Some(n), Some(e)) => format!("{n} <{e}>"),
                    (Some(n), None) => n.clone(),
                    (None, Some(e)) => e.clone(),
                    (None, None) => format!("contact {id}"),
                }
            }
            (other, Some(Summary { name: Some(n), .. })) => {
                let _ = other;
                n.clone()
            }
            (other, _) => format!("{} {id}", other.singular()),
        };
        related.push((*assoc_kind, shown));
    }
    for assoc_kind in ObjectKind::ALL {
        let names: Vec<&str> = related
            .iter()
            .filter(|(k, _)| *k == assoc_kind)
            .map(|(_, s)| s.as_str())
            .collect();
        if names.is_empty() {
            continue;
        }
        let heading = match (assoc_kind, names.len()) {
            (ObjectKind::Company, 1) => "Company",
            (ObjectKind::Company, _) => "Companies",
            (ObjectKind::Contact, 1) => "Contact",
            (ObjectKind::Contact, _) => "Contacts",
            (ObjectKind::Deal, 1) => "Deal",
            (ObjectKind::Deal, _) => "Deals",
            (k, _) => k.plural(),
        };
        // A contact's own `company` attribute already names its company.
        if !(kind == ObjectKind::Contact
            && assoc_kind == ObjectKind::Company
            && record.get(attr::COMPANY_NAME).is_some()
            && names.len() == 1
            && names[0].starts_with(record.get(attr::COMPANY_NAME).unwrap_or_default()))
        {
            lines.push(format!("{heading}: {}", names.join(", ")));
        }
    }

    let deal_name = related
        .iter()
        .find(|(k, _)| *k == ObjectKind::Deal)
        .map(|(_, n)| n.clone());
    let body_text = record
        .get(attr::BODY)
        .map(html_to_text)
        .filter(|t| !t.is_empty());
    let title = title.unwrap_or_else(|| match kind {
        _ if kind.is_engagement() => {
            let what = match kind {
                ObjectKind::Call => "Call",
                ObjectKind::Meeting => "Meeting",
                ObjectKind::Task => "Task",
                _ => "Note",
            };
            match (&deal_name, &body_text) {
                (Some(deal), _) => format!("{what} on {deal}"),
                (None, Some(text)) => format!("{what}: {}", first_words(text, 8)),
                (None, None) => format!("{what} {}", record.id),
            }
        }
        _ => format!("{} {}", kind.singular(), record.id),
    });

    let mut body = String::new();
    let heading = match kind {
        ObjectKind::Contact => "Contact",
        ObjectKind::Company => "Company",
        ObjectKind::Deal => "Deal",
        ObjectKind::Note => "Note",
        ObjectKind::Call => "Call",
        ObjectKind::Meeting => "Meeting",
        ObjectKind::Task => "Task",
    };
    body.push_str(&format!("{heading}: {title}\n"));
    for line in lines {
        body.push_str(&line);
        body.push('\n');
    }
    if let Some(text) = body_text {
        body.push('\n');
        body.push_str(&text);
        body.push('\n');
    }

    let mut item = Item::new(record.external_id(), kind.item_kind(), title, body);
    item.locator = locator;
    item.timestamp_ms = record.timestamp_ms.or(record.updated_ms);
    item.people = people;
    item.organizations = orgs;
    item.links = links;
    item.fields = fields;
    item.version = Some(record.version.clone());
    item
}

fn first_words(text: &str, n: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().take(n + 1).collect();
    if words.len() > n {
        format!("{}…", words[..n].join(" "))
    } else {
        words.join(" ")
    }
}

/// Readable text of a CRM rich-text property (HubSpot note bodies are HTML): tags dropped,
/// block ends as line breaks, the common entities decoded. Plain text passes through.
pub fn html_to_text(raw: &str) -> String {
    if !raw.contains('<') && !raw.contains('&') {
        return raw.trim().to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let tag = rest[start + 1..start + end]
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if matches!(
            tag.as_str(),
            "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "ul" | "ol"
        ) {
            out.push('\n');
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let mut lines: Vec<&str> = Vec::new();
    for line in decoded.lines().map(str::trim) {
        if line.is_empty() && lines.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

/// Parses a CRM time: epoch milliseconds (as number text), RFC 3339, or a plain date.
pub fn parse_time_ms(raw: &str) -> Option<i64> {
    let t = raw.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(n) = t.parse::<i64>() {
        // Seconds or milliseconds: ten-digit values are seconds (until 2286).
        return Some(if n.abs() < 100_000_000_000 {
            n * 1000
        } else {
            n
        });
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
        return Some(dt.timestamp_millis());
    }
    if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S") {
        return Some(dt.and_utc().timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|dt| dt.and_utc().timestamp_millis());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free() -> Vec<String> {
        default_free_mail()
    }

    #[test]
    fn a_deal_carries_its_company_domain_and_contacts() {
        let mut directory = Directory::default();
        let mut company = CrmRecord::new(ObjectKind::Company, "1");
        company.set(attr::NAME, "Acme");
        company.set(attr::DOMAIN, "https://www.Acme.com/");
        directory.insert(ObjectKind::Company, "1", company.summary(&free()));
        let mut contact = CrmRecord::new(ObjectKind::Contact, "7");
        contact.set(attr::FIRST_NAME, "Dana");
        contact.set(attr::LAST_NAME, "Lee");
        contact.set(attr::EMAIL, "dana@acme.com");
        directory.insert(ObjectKind::Contact, "7", contact.summary(&free()));

        let mut deal = CrmRecord::new(ObjectKind::Deal, "42");
        deal.set(attr::NAME, "Acme renewal");
        deal.set(attr::STAGE, "contractsent");
        deal.set(attr::AMOUNT, "120000");
        deal.associate(ObjectKind::Company, "1");
        deal.associate(ObjectKind::Contact, "7");
        deal.associate(ObjectKind::Contact, "8");
        deal.version = "v1".into();
        let item = record_item(&deal, &directory, &free(), String::new());
        assert_eq!(item.external_id, "deals/42");
        assert_eq!(item.kind, ItemKind::Deal);
        assert_eq!(item.title, "Acme renewal");
        assert_eq!(
            item.organizations,
            vec![OrgRef {
                domain: Some("acme.com".into()),
                name: Some("Acme".into())
            }]
        );
        assert_eq!(item.people.len(), 1);
        assert_eq!(item.people[0].email.as_deref(), Some("dana@acme.com"));
        assert!(item.body.contains("Stage: contractsent"), "{}", item.body);
        assert!(item.body.contains("Company: Acme (acme.com)"));
        assert!(
            item.body
                .contains("Contacts: Dana Lee <dana@acme.com>, contact 8")
        );
        let targets: Vec<&str> = item
            .links
            .iter()
            .map(|l| l.target_external_id.as_str())
            .collect();
        assert_eq!(targets, ["companies/1", "contacts/7", "contacts/8"]);
    }

    #[test]
    fn free_mail_domains_never_define_a_company() {
        assert_eq!(normalize_domain("gmail.com", &free()), None);
        assert_eq!(
            normalize_domain("WWW.Acme.co.uk:443/x", &free()),
            Some("acme.co.uk".into())
        );
        assert_eq!(normalize_domain("localhost", &free()), None);
        let mut company = CrmRecord::new(ObjectKind::Company, "3");
        company.set(attr::NAME, "Freelancer");
        company.set(attr::DOMAIN, "gmail.com");
        let item = record_item(&company, &Directory::default(), &free(), String::new());
        assert_eq!(
            item.organizations,
            vec![OrgRef {
                domain: None,
                name: Some("Freelancer".into())
            }]
        );
    }

    #[test]
    fn note_bodies_lose_their_html() {
        assert_eq!(
            html_to_text("<p>Call went <b>well</b>&nbsp;&amp; fast</p><p>Next: legal</p>"),
            "Call went well & fast\n\nNext: legal"
        );
        let mut note = CrmRecord::new(ObjectKind::Note, "5");
        note.set(attr::BODY, "<div>Renewal pricing agreed</div>");
        let item = record_item(&note, &Directory::default(), &free(), String::new());
        assert_eq!(item.title, "Note: Renewal pricing agreed");
        assert!(item.body.ends_with("Renewal pricing agreed\n"));
    }

    #[test]
    fn times_in_every_shape() {
        assert_eq!(parse_time_ms("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(parse_time_ms("1700000000"), Some(1_700_000_000_000));
        assert_eq!(
            parse_time_ms("2023-11-14T22:13:20Z"),
            Some(1_700_000_000_000)
        );
        assert_eq!(parse_time_ms("2023-11-14"), Some(1_699_920_000_000));
        assert_eq!(parse_time_ms("soon"), None);
    }
}
